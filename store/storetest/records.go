package storetest

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// fullNetwork and fullContainer set every field (checked by everyFieldSet),
// so a field a store drops shows in the round trip. Each call builds a new
// record: one to store, one to compare with.
func fullNetwork() *model.Network {
	return &model.Network{ID: net1, Name: "demo", Number: 7, Driver: model.DriverBridge, Created: created,
		Predefined: true, UserSubnet: true, Internal: true,
		IPAM: ipam.Config{Subnet: netip.MustParsePrefix("172.18.0.0/16"),
			IPRange: netip.MustParsePrefix("172.18.5.0/24"), Gateway: netip.MustParseAddr("172.18.0.1")},
		Settings: model.Settings{ICC: true, MTU: 1450, Masquerade: true, HostBindingIPv4: netip.MustParseAddr("127.0.0.1")},
		Options:  map[string]string{"com.docker.network.driver.mtu": "1450"},
		Labels:   map[string]string{"team": "web"}}
}

func fullContainer() *model.Container {
	ep := func(netID, ip, mac string, slot uint32, ifname, host string) *model.Endpoint {
		e := endpoint(netID, ip, slot)
		e.MAC, e.Aliases, e.Ifname, e.HostIfname = mac, []string{"web", "www"}, ifname, host
		e.StaticIP = true
		return e
	}
	return &model.Container{ID: id("c1"), Name: "web", Created: created, Netns: "/run/netns/web",
		Adopted: true, Mode: model.NetworkNone, Exposed: []string{"80/tcp", "53/udp"},
		SharesWith: id("c0"), SharedBy: []string{id("c2"), id("c3")},
		Mounts: []model.Mount{{Volume: true, Source: "data", Destination: "/data", ReadOnly: true}}, Endpoints: []*model.Endpoint{
			ep(net1, "172.18.5.2", "02:42:ac:12:05:02", 3, "eth0", "bpf0c1"),
			ep(net2, "172.19.0.9", "02:42:ac:13:00:09", 4, "eth1", "bpf1c1"),
		}}
}

// everyFieldSet fails for a field of v left at its zero value, looking
// into the structs of this module (Settings, ipam.Config, endpoints).
func everyFieldSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch {
	case v.Kind() == reflect.Pointer:
		everyFieldSet(t, path, v.Elem())
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Pointer:
		for i := range v.Len() {
			everyFieldSet(t, path, v.Index(i))
		}
	case v.Kind() == reflect.Struct && strings.HasPrefix(v.Type().PkgPath(), "github.com/bpfnet/bpfnet/"):
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if v.Field(i).IsZero() {
				t.Errorf("the suite's fixture leaves %s.%s unset: set it, so the round trip covers it", path, f.Name)
			}
			everyFieldSet(t, path+"."+f.Name, v.Field(i))
		}
	}
}

// Every field of every record comes back as it was put, by each read.
func testRoundTrip(t *testing.T, s store.Store) {
	everyFieldSet(t, "Network", reflect.ValueOf(fullNetwork()))
	everyFieldSet(t, "Container", reflect.ValueOf(fullContainer()))
	n2 := network(net2, "other", 8, "172.19.0.0/16")
	apply(t, s, store.Change{PutNetworks: []*model.Network{fullNetwork(), n2}, PutContainers: []*model.Container{fullContainer()}})

	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]*model.Network{net1: fullNetwork(), net2: n2}; !reflect.DeepEqual(st.Networks, want) {
		t.Errorf("Load networks = %s, want %s", show(st.Networks), show(want))
	}
	c, err := s.Container(id("c1"))
	if err != nil || !reflect.DeepEqual(c, fullContainer()) {
		t.Errorf("Container = %s (%v), want %s", show(c), err, show(fullContainer()))
	}
	all, err := s.Containers()
	if want := map[string]*model.Container{id("c1"): fullContainer()}; err != nil || !reflect.DeepEqual(all, want) {
		t.Errorf("Containers = %s (%v), want %s", show(all), err, show(want))
	}
	if c, err := s.Container(id("c2")); c != nil || err != nil {
		t.Errorf("Container of an unknown ID = %s, %v; want nil, nil", show(c), err)
	}
	if err := s.Verify(); err != nil {
		t.Errorf("Verify of a sound store: %v", err)
	}
	if s.Path() == "" {
		t.Error("Path is empty: messages could not name the store")
	}
}

// Records go in and out as copies: changing what was put or what was read
// changes nothing stored.
func testNoAliasing(t *testing.T, s store.Store) {
	n, c := fullNetwork(), fullContainer()
	apply(t, s, store.Change{PutNetworks: []*model.Network{n}, PutContainers: []*model.Container{c}})
	scribble := func(n *model.Network, c *model.Container) {
		n.Name, n.Labels["team"], n.Options["x"] = "scribbled", "scribbled", "y"
		c.Name, c.Endpoints[0].IP, c.Endpoints[0].Aliases[0] = "scribbled", netip.MustParseAddr("10.9.9.9"), "scribbled"
		c.Endpoints = c.Endpoints[:1]
	}
	check := func(when string) {
		t.Helper()
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Container(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st.Networks[n.ID], fullNetwork()) || !reflect.DeepEqual(got, fullContainer()) {
			t.Fatalf("%s: stored records changed: %s, %s", when, show(st.Networks[n.ID]), show(got))
		}
		if used, err := s.UsedIPs(net1); err != nil || !slices.Contains(used, netip.MustParseAddr("172.18.5.2")) {
			t.Fatalf("%s: the address index changed: %v, %v", when, used, err)
		}
	}
	scribble(n, c)
	check("after changing the records put")

	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Container(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	scribble(st.Networks[n.ID], got)
	check("after changing the records Load and Container returned")
	all, err := s.Containers()
	if err != nil {
		t.Fatal(err)
	}
	scribble(fullNetwork(), all[c.ID])
	check("after changing the records Containers returned")
}

// Load reads the networks and no container; Containers reads them all.
func testLoadNetworksOnly(t *testing.T, s store.Store) {
	st, err := s.Load()
	if err != nil || len(st.Networks) != 0 || len(st.Containers) != 0 {
		t.Fatalf("Load of an empty store = %s, %v", show(st), err)
	}
	a, b := container(id("c1"), "a"), container(id("c2"), "b", endpoint(net1, "172.18.0.2", 1))
	apply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", 1, "172.18.0.0/16")},
		PutContainers: []*model.Container{a, b}})
	st, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Networks) != 1 || st.Networks[net1] == nil {
		t.Errorf("Load networks = %v, want %s", st.Networks, net1)
	}
	// The control plane adds the containers it reads to this map.
	if st.Containers == nil || len(st.Containers) != 0 {
		t.Errorf("Load containers = %v, want an empty map", st.Containers)
	}
	all, err := s.Containers()
	if want := map[string]*model.Container{a.ID: a, b.ID: b}; err != nil || !reflect.DeepEqual(all, want) {
		t.Errorf("Containers = %s (%v), want %s", show(all), err, show(want))
	}
}

// Puts replace records, deletes remove them (absent ones are no error),
// and every read sees the change.
func testPutsAndDeletes(t *testing.T, s store.Store) {
	n1, n2 := network(net1, "n1", 1, "172.18.0.0/16"), network(net2, "n2", 2, "172.19.0.0/16")
	a, b := container(id("c1"), "a"), container(id("c2"), "b")
	apply(t, s, store.Change{PutNetworks: []*model.Network{n1, n2}, PutContainers: []*model.Container{a, b}})
	n1.Internal, a.Netns = true, "/run/netns/renamed"
	apply(t, s, store.Change{PutNetworks: []*model.Network{n1}, PutContainers: []*model.Container{a},
		DeleteNetworks: []string{net2, id("a9")}, DeleteContainers: []string{b.ID, id("c9")}})

	st, err := s.Load()
	if want := map[string]*model.Network{net1: n1}; err != nil || !reflect.DeepEqual(st.Networks, want) {
		t.Errorf("networks = %s (%v), want %s", show(st.Networks), err, show(want))
	}
	all, err := s.Containers()
	if want := map[string]*model.Container{a.ID: a}; err != nil || !reflect.DeepEqual(all, want) {
		t.Errorf("containers = %s (%v), want %s", show(all), err, show(want))
	}
	if got, err := s.Container(b.ID); got != nil || err != nil {
		t.Errorf("deleted container read as %s, %v", show(got), err)
	}
	if got, ok, err := s.ContainerID("b"); ok || err != nil {
		t.Errorf("the deleted container's name resolves to %q (%v)", got, err)
	}
	if got, ok, err := s.ContainerID(b.ID); ok || err != nil {
		t.Errorf("the deleted container's ID resolves to %q (%v)", got, err)
	}
	if err := s.Apply(store.Change{}); err != nil {
		t.Errorf("an empty change: %v", err)
	}
}

func testHasContainers(t *testing.T, s store.Store) {
	has := func(want bool) {
		t.Helper()
		if got, err := s.HasContainers(); err != nil || got != want {
			t.Fatalf("HasContainers = %v, %v; want %v", got, err, want)
		}
	}
	has(false)
	apply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", 1, "172.18.0.0/16")}})
	has(false)
	apply(t, s, puts(container(id("c1"), "a"), container(id("c2"), "b")))
	has(true)
	apply(t, s, store.Change{DeleteContainers: []string{id("c1")}})
	has(true)
	apply(t, s, store.Change{DeleteContainers: []string{id("c2")}})
	has(false)
}

func testMeta(t *testing.T, s store.Store) {
	meta := func(key, want string) {
		t.Helper()
		if got, err := s.Meta(key); err != nil || got != want {
			t.Errorf("Meta(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	meta("datapath", "")
	for _, v := range []string{"v1", "v2"} {
		if err := s.PutMeta("datapath", v); err != nil {
			t.Fatal(err)
		}
		meta("datapath", v)
	}
	if err := s.PutMeta("storetest.other", "x"); err != nil {
		t.Fatal(err)
	}
	meta("storetest.other", "x")
	meta("datapath", "v2")
}

// A meta key is the caller's, whatever its name: writing one that the
// store also uses for itself is refused or kept apart, and never changes
// the records.
func testMetaKeysApart(t *testing.T, s store.Store) {
	apply(t, s, store.Change{PutNetworks: []*model.Network{fullNetwork()}, PutContainers: []*model.Container{fullContainer()}})
	for _, key := range []string{"networks", "containers", "schema", "generation", "version", "count"} {
		if err := s.PutMeta(key, "12345678"); err != nil {
			continue // a reserved key, refused: fine
		}
		if got, err := s.Meta(key); err != nil || got != "12345678" {
			t.Errorf("Meta(%q) = %q, %v after PutMeta of 12345678", key, got, err)
		}
	}
	st, err := s.Load()
	if err != nil || len(st.Networks) != 1 {
		t.Fatalf("Load after PutMeta = %v, %v", st, err)
	}
	if all, err := s.Containers(); err != nil || len(all) != 1 {
		t.Fatalf("Containers after PutMeta = %v, %v", all, err)
	}
	if err := s.Verify(); err != nil {
		t.Errorf("Verify after PutMeta: %v", err)
	}
}
