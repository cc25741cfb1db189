package storetest

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// view is everything the reads of a store tell about the IDs, networks
// and references given.
type view struct {
	Networks   map[string]*model.Network
	Containers map[string]*model.Container
	HasAny     bool
	Ports      map[string][]ports.Mapping
	HasPorts   map[string]bool
	Used       map[string][]netip.Addr
	OnNetwork  map[string][]string
	Refs       map[string]string
	FreeSlot   uint32
	Held       []bool
}

func readAll(t *testing.T, s store.Store, ctrIDs, netIDs, refs []string, probes []ports.Mapping) view {
	t.Helper()
	v := view{Ports: map[string][]ports.Mapping{}, HasPorts: map[string]bool{}, Used: map[string][]netip.Addr{},
		OnNetwork: map[string][]string{}, Refs: map[string]string{}}
	var errs []error
	st, err := s.Load()
	if errs = append(errs, err); err == nil {
		v.Networks = st.Networks
	}
	v.Containers, err = s.Containers()
	errs = append(errs, err)
	for _, id := range ctrIDs {
		v.Ports[id], err = s.Ports(id)
		errs = append(errs, err)
		v.HasPorts[id], err = s.HasPorts(id)
		errs = append(errs, err)
	}
	for _, id := range netIDs {
		v.Used[id], err = s.UsedIPs(id)
		errs = append(errs, err)
		ids, err := s.NetworkContainers(id)
		errs = append(errs, err)
		v.OnNetwork[id] = slices.Sorted(slices.Values(ids))
	}
	for _, ref := range refs {
		v.Refs[ref], _, err = s.ContainerID(ref)
		errs = append(errs, err)
	}
	v.HasAny, err = s.HasContainers()
	errs = append(errs, err)
	v.FreeSlot, _, err = s.FreeSlot(1, 100)
	errs = append(errs, err)
	errs = append(errs, s.WithPortIndex(func(held ports.Held) error {
		for _, m := range probes {
			v.Held = append(v.Held, held.Holds(m.HostIP, m.HostPort, m.Proto))
		}
		return nil
	}))
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("read the store: %v", err)
	}
	return v
}

// A change Apply refuses (a binding another container holds) leaves every
// read as it was, whatever else the change held.
func testRefusedChange(t *testing.T, s store.Store) {
	a, b, c := id("c1"), id("c2"), id("c3")
	apply(t, s, store.Change{
		PutNetworks:   []*model.Network{network(net1, "n1", 1, "172.18.0.0/16")},
		PutContainers: []*model.Container{container(a, "a", endpoint(net1, "172.18.0.2", 1)), container(c, "c", endpoint(net1, "172.18.0.4", 2))},
		AddPorts:      portSet{a: {web8080, web9090}, c: {web40002}},
	})
	probes := []ports.Mapping{web8080, web9090, web40002, api8080}
	read := func() view {
		t.Helper()
		return readAll(t, s, []string{a, b, c}, []string{net1, net2}, []string{"a", "b", "c", "a-renamed", "c1", "c2", "c3"}, probes)
	}
	before := read()

	renamed := container(a, "a-renamed", endpoint(net2, "172.19.0.2", 3))
	err := s.Apply(store.Change{
		PutNetworks:      []*model.Network{network(net2, "n2", 2, "172.19.0.0/16")},
		DeleteNetworks:   []string{net1},
		PutContainers:    []*model.Container{renamed, container(b, "b", endpoint(net1, "172.18.0.3", 4))},
		DeleteContainers: []string{c},
		RemovePorts:      portSet{a: {web9090}},
		AddPorts:         portSet{b: {api8080, web8080}}, // web8080 is a's
	})
	if err == nil {
		t.Fatal("b was given a binding a holds")
	}
	if after := read(); !reflect.DeepEqual(after, before) {
		t.Errorf("the refused change was applied in part:\nbefore %s\nafter  %s", show(before), show(after))
	}
}
