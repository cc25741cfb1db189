package datapath

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostNetns is a throwaway network namespace that stands for the host in
// tests that need bpf_fib_lookup, which BPF_PROG_TEST_RUN answers from the
// namespace of the calling thread:
//
//	up0 (192.0.2.1/24, upMAC) with peer up1: the uplink, registered in
//	  bpfnet_uplinks; 192.0.2.2 is a permanent neighbour on it (clientMAC),
//	  192.0.2.4 has no neighbour entry;
//	hostA with peer ctrA: A's veth, carrying the gateway 172.18.0.1/16;
//	lo up; net.ipv4.ip_forward=1, which the fib lookup requires.
type hostNetns struct {
	ns    netns.NsHandle
	up0   int // ifindexes in ns
	hostA int
}

// noNeighbour is on the uplink's subnet but has no neighbour entry.
var noNeighbour = netip.MustParseAddr("192.0.2.4")

// newHostNetns makes the namespace and registers up0 in f as an uplink
// masquerading to hostIP.
func newHostNetns(t testing.TB, f *natFixture) *hostNetns {
	t.Helper()
	ns, err := kernel.NewNetnsHandle()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	h := &hostNetns{ns: ns}
	t.Cleanup(func() { h.ns.Close() })
	h.do(t, func() {
		if err := kernel.WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
			t.Fatal(err)
		}
		if err := kernel.SetLinkUp("lo"); err != nil {
			t.Fatal(err)
		}
		h.up0 = addVeth(t, "up0", "up1", upMAC, "192.0.2.1/24")
		h.hostA = addVeth(t, "hostA", "ctrA", gw1MAC, "172.18.0.1/16")
		neigh := &netlink.Neigh{LinkIndex: h.up0, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: client.AsSlice(), HardwareAddr: clientMAC}
		if err := netlink.NeighAdd(neigh); err != nil {
			t.Fatalf("add neighbour %v: %v", client, err)
		}
	})
	f.addUplink(t, h.up0, hostIP)
	return h
}

// do runs fn on a thread in the namespace (kernel.Do). fn must not start
// goroutines that expect the namespace; t.Fatal in fn is fine: the thread,
// still locked and still in the namespace, dies with the goroutine.
func (h *hostNetns) do(t testing.TB, fn func()) {
	t.Helper()
	if err := kernel.Do(h.ns, func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// addVeth creates a veth pair in the calling thread's namespace, both ends
// up, name with mac and addr, and returns name's ifindex.
func addVeth(t testing.TB, name, peer string, mac net.HardwareAddr, addr string) int {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}, PeerName: peer}
	if err := netlink.LinkAdd(veth); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("kernel without veth: %v", err)
	} else if err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	for _, n := range []string{name, peer} {
		if err := kernel.SetLinkUp(n); err != nil {
			t.Fatal(err)
		}
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(addr)
	if err == nil {
		err = netlink.AddrAdd(l, a)
	}
	if err != nil {
		t.Fatalf("add %s to %s: %v", addr, name, err)
	}
	return l.Attrs().Index
}
