package etcdstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

func id(prefix string) string { return prefix + strings.Repeat("0", 64-len(prefix)) }

func network(netID, name, subnet string) *model.Network {
	p := netip.MustParsePrefix(subnet)
	return &model.Network{ID: netID, Name: name, Driver: model.DriverBridge,
		IPAM: ipam.Config{Subnet: p, Gateway: p.Addr().Next()}}
}

// container with one endpoint on netID, or none when netID is "".
func container(ctrID, name, netID, ip string, slot uint32) *model.Container {
	c := &model.Container{ID: ctrID, Name: name, Netns: "/run/netns/" + name}
	if netID != "" {
		sum := sha256.Sum256([]byte(netID + "/" + ip))
		c.Endpoints = []*model.Endpoint{{ID: hex.EncodeToString(sum[:]), NetworkID: netID,
			IP: netip.MustParseAddr(ip), Slot: slot, Ifname: "eth0"}}
	}
	return c
}

func mustApply(t *testing.T, s store.Store, ch store.Change) {
	t.Helper()
	if err := s.Apply(ch); err != nil {
		t.Fatal(err)
	}
}

func puts(cs ...*model.Container) store.Change { return store.Change{PutContainers: cs} }

// Two hosts race for the last address of a network: each reads the
// addresses in use, picks the one left and applies at the same moment.
// Exactly one wins; the other gets store.ErrConflict and writes nothing.
func TestRaceForLastAddress(t *testing.T) {
	te := startEtcd(t)
	hosts := []*Store{te.openAt(t, "/race/", Options{}), te.openAt(t, "/race/", Options{})}
	for _, s := range hosts {
		defer s.Close()
	}
	why := map[string]int{}
	for round := range 20 {
		netID := id(fmt.Sprintf("a%03d", round))
		subnet := fmt.Sprintf("10.%d.0.0/29", round) // .2 to .6 for containers
		ch := store.Change{PutNetworks: []*model.Network{network(netID, fmt.Sprintf("n%d", round), subnet)}}
		for i := range 4 {
			ch.PutContainers = append(ch.PutContainers, container(id(fmt.Sprintf("f%03d%d", round, i)),
				fmt.Sprintf("fill%d-%d", round, i), netID, fmt.Sprintf("10.%d.0.%d", round, 2+i), uint32(1000+10*round+i)))
		}
		mustApply(t, hosts[0], ch)

		var ready, wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		ids := []string{id(fmt.Sprintf("c%03d0", round)), id(fmt.Sprintf("c%03d1", round))}
		for h, s := range hosts {
			ready.Add(1)
			wg.Go(func() {
				used, err := s.UsedIPs(netID)
				free := netip.MustParseAddr(fmt.Sprintf("10.%d.0.2", round))
				for slices.Contains(used, free) {
					free = free.Next()
				}
				ready.Done()
				<-start
				if err == nil {
					err = s.Apply(puts(container(ids[h], fmt.Sprintf("racer%d-%d", round, h), netID, free.String(), uint32(5000+10*round+h))))
				}
				errs[h] = err
			})
		}
		ready.Wait()
		close(start)
		wg.Wait()

		winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		loser := 1 - winner
		if winner < 0 || errs[loser] == nil {
			t.Fatalf("round %d: errors %v: want exactly one nil", round, errs)
		}
		if !errors.Is(errs[loser], store.ErrConflict) {
			t.Fatalf("round %d: the loser's error %v is not store.ErrConflict", round, errs[loser])
		}
		why[strings.SplitN(errs[loser].Error(), ": ", 3)[1]]++
		last := netip.MustParseAddr(fmt.Sprintf("10.%d.0.6", round))
		for _, s := range hosts {
			if used, err := s.UsedIPs(netID); err != nil || len(used) != 5 || used[4] != last {
				t.Fatalf("round %d: UsedIPs = %v, %v; want .2 to .6", round, used, err)
			}
			if c, err := s.Container(ids[loser]); c != nil || err != nil {
				t.Fatalf("round %d: the loser's container was written: %v, %v", round, c, err)
			}
			if c, err := s.Container(ids[winner]); c == nil || err != nil {
				t.Fatalf("round %d: the winner's container is missing: %v", round, err)
			}
		}
	}
	t.Logf("why the losers lost: %v", why)
	if err := hosts[1].Verify(); err != nil {
		t.Error(err)
	}
}

// A change whose reads another writer changes before its commit fails as
// a whole; one whose reads nobody touched commits, whatever else changed.
func TestApplyGuardedByItsReads(t *testing.T) {
	te := startEtcd(t)
	a, b := te.openAt(t, "/guard/", Options{}), te.openAt(t, "/guard/", Options{})
	defer a.Close()
	defer b.Close()
	netID := id("a1")
	mustApply(t, a, store.Change{PutNetworks: []*model.Network{network(netID, "n1", "172.18.0.0/16")}})
	web := container(id("c1"), "web", netID, "172.18.0.2", 1)
	mustApply(t, a, store.Change{PutContainers: []*model.Container{web},
		AddPorts: map[string][]ports.Mapping{web.ID: {{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: ports.TCP}}}})

	var afterOther map[string]string
	meanwhile := func(ch store.Change) {
		a.beforeCommit = func() {
			a.beforeCommit = nil
			mustApply(t, b, ch)
			afterOther = dump(t, b)
		}
	}
	moved := container(web.ID, "web", netID, "172.18.0.2", 1)
	moved.Netns = "/run/netns/moved"
	for _, tc := range []struct {
		name      string
		other, ch store.Change
		conflict  bool
	}{
		{"the address it takes", puts(container(id("c2"), "api", netID, "172.18.0.3", 2)),
			puts(container(id("c3"), "db", netID, "172.18.0.3", 3)), true},
		{"the record it replaces", puts(moved), puts(container(web.ID, "web2", netID, "172.18.0.2", 1)), true},
		{"a port of the container it deletes", store.Change{AddPorts: map[string][]ports.Mapping{
			web.ID: {{HostPort: 9090, HostPortEnd: 9090, ContainerPort: 90, Proto: ports.UDP}}}},
			store.Change{DeleteContainers: []string{web.ID}}, true},
		{"nothing it read", puts(container(id("c5"), "other", netID, "172.18.0.5", 5)),
			puts(container(id("c6"), "mine", netID, "172.18.0.6", 6)), false},
	} {
		before := dump(t, a)
		meanwhile(tc.other)
		err := a.Apply(tc.ch)
		if maps.Equal(before, afterOther) {
			t.Fatalf("%s: the other writer changed nothing", tc.name)
		}
		if !tc.conflict {
			if err != nil {
				t.Errorf("another writer changed %s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("another writer changed %s: Apply = %v, want store.ErrConflict", tc.name, err)
		}
		if after := dump(t, a); !maps.Equal(after, afterOther) {
			t.Errorf("another writer changed %s: the refused change was written in part:\nwant %v\ngot  %v", tc.name, afterOther, after)
		}
	}
	if err := a.Verify(); err != nil {
		t.Error(err)
	}
}

// dump is every key under the store's prefix and its value.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	resp, err := s.client.Get(context.Background(), s.prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, kv := range resp.Kvs {
		all[string(kv.Key)] = string(kv.Value)
	}
	return all
}
