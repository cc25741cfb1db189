package storetest

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// onNetwork checks UsedIPs and NetworkContainers of netID.
func onNetwork(t *testing.T, s store.Store, netID string, ips []string, ctrs ...string) {
	t.Helper()
	var wantIPs []netip.Addr // in increasing order, as the store gives them
	for _, ip := range ips {
		wantIPs = append(wantIPs, netip.MustParseAddr(ip))
	}
	slices.SortFunc(wantIPs, netip.Addr.Compare)
	if used, err := s.UsedIPs(netID); err != nil || !reflect.DeepEqual(used, wantIPs) {
		t.Errorf("UsedIPs(%.4s) = %v, %v; want %v", netID, used, err, wantIPs)
	}
	got, err := s.NetworkContainers(netID)
	slices.Sort(got)
	slices.Sort(ctrs)
	if err != nil || !slices.Equal(got, ctrs) {
		t.Errorf("NetworkContainers(%.4s) = %.4s, %v; want %.4s", netID, got, err, ctrs)
	}
}

// The address index follows the endpoints: connect, disconnect (the old
// address is free again), a new address, deletion.
func testUsedIPs(t *testing.T, s store.Store) {
	a, b := id("c1"), id("c2")
	onNetwork(t, s, net1, nil)
	apply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", 1, "172.18.0.0/16"),
		network(net2, "n2", 2, "172.19.0.0/16")}})
	apply(t, s, puts(
		container(a, "a", endpoint(net1, "172.18.0.2", 1), endpoint(net2, "172.19.0.2", 2)),
		container(b, "b", endpoint(net1, "172.18.0.3", 3))))
	onNetwork(t, s, net1, []string{"172.18.0.2", "172.18.0.3"}, a, b)
	onNetwork(t, s, net2, []string{"172.19.0.2"}, a)
	onNetwork(t, s, id("a9"), nil)

	// a leaves net1 and b moves to another address.
	apply(t, s, puts(
		container(a, "a", endpoint(net2, "172.19.0.2", 2)),
		container(b, "b", endpoint(net1, "172.18.0.9", 3))))
	onNetwork(t, s, net1, []string{"172.18.0.9"}, b)
	onNetwork(t, s, net2, []string{"172.19.0.2"}, a)

	// b takes the address a gives up in the same change.
	apply(t, s, puts(
		container(b, "b", endpoint(net1, "172.18.0.9", 3), endpoint(net2, "172.19.0.2", 4)),
		container(a, "a")))
	onNetwork(t, s, net1, []string{"172.18.0.9"}, b)
	onNetwork(t, s, net2, []string{"172.19.0.2"}, b)

	apply(t, s, store.Change{DeleteContainers: []string{b}})
	onNetwork(t, s, net1, nil)
	onNetwork(t, s, net2, nil)
}

// FreeSlot is the lowest slot from first below max that no endpoint
// holds; ok is false when every one is held.
func testFreeSlot(t *testing.T, s store.Store) {
	free := func(first, max, want uint32, wantOK bool) {
		t.Helper()
		got, ok, err := s.FreeSlot(first, max)
		if err != nil || ok != wantOK || ok && got != want {
			t.Errorf("FreeSlot(%d, %d) = %d, %v, %v; want %d, %v", first, max, got, ok, err, want, wantOK)
		}
	}
	free(1, 10, 1, true)
	free(5, 10, 5, true)
	free(10, 10, 0, false)
	a, b := id("c1"), id("c2")
	apply(t, s, puts(
		container(a, "a", endpoint(net1, "172.18.0.2", 1), endpoint(net2, "172.19.0.2", 2)),
		container(b, "b", endpoint(net1, "172.18.0.3", 4), endpoint(net2, "172.19.0.3", 5))))
	free(1, 10, 3, true)
	free(0, 10, 0, true)
	free(4, 10, 6, true)
	free(1, 3, 0, false)
	free(1, 4, 3, true)
	free(4, 6, 0, false)
	free(4, 7, 6, true)
	free(100, 200, 100, true)

	// a disconnects from net2: slot 2 is free again.
	apply(t, s, puts(container(a, "a", endpoint(net1, "172.18.0.2", 1))))
	free(1, 10, 2, true)
	apply(t, s, puts(container(a, "a", endpoint(net1, "172.18.0.2", 1), endpoint(net2, "172.19.0.2", 2),
		endpoint(id("a3"), "172.20.0.2", 3))))
	free(1, 10, 6, true)
	free(1, 6, 0, false)
	apply(t, s, store.Change{DeleteContainers: []string{b}})
	free(1, 10, 4, true)
	apply(t, s, store.Change{DeleteContainers: []string{a}})
	free(1, 10, 1, true)
}
