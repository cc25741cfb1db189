package multihost

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/vm/cluster"
)

const (
	vxlanName = "vx77"
	vxlanID   = 77
	vxlanPort = 4789
)

// overlayAddr is each role's address inside the vxlan network.
var overlayAddr = map[string]netip.Prefix{
	"host1": netip.MustParsePrefix("198.19.77.1/24"),
	"host2": netip.MustParsePrefix("198.19.77.2/24"),
}

// TestVXLAN: host1 and host2 each create a kernel vxlan device whose remote is the other
// host's segment address, and exchange TCP traffic over the overlay addresses.
func TestVXLAN(t *testing.T) {
	topo := cluster.Skip(t)
	self, ok := overlayAddr[topo.Self.Role]
	if !ok {
		t.Skipf("%s takes no part in the vxlan check", topo.Self.Role)
	}
	other := "host2"
	if topo.Self.Role == "host2" {
		other = "host1"
	}
	peer, ok := topo.Peer(other)
	if !ok {
		t.Fatalf("no %s in this run", other)
	}

	dev, err := netlink.LinkByName(topo.Dev)
	if err != nil {
		t.Fatalf("segment device %q: %v", topo.Dev, err)
	}
	vx := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: vxlanName},
		VxlanId:      vxlanID,
		VtepDevIndex: dev.Attrs().Index,
		SrcAddr:      net.IP(topo.Self.Addr.AsSlice()),
		Group:        net.IP(peer.Addr.AsSlice()),
		Port:         vxlanPort,
	}
	if err := netlink.LinkAdd(vx); err != nil {
		t.Fatalf("add vxlan device: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(vx) })
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(self.Addr().AsSlice()),
		Mask: net.CIDRMask(self.Bits(), 32),
	}}
	if err := netlink.AddrAdd(vx, addr); err != nil {
		t.Fatalf("address %s on %s: %v", self, vxlanName, err)
	}
	if err := netlink.LinkSetUp(vx); err != nil {
		t.Fatalf("%s up: %v", vxlanName, err)
	}

	stop := serveEcho(t, netip.AddrPortFrom(self.Addr(), echoPort))
	defer stop()
	if err := cluster.Barrier(topo, "vxlan-up", time.Minute, "host1", "host2"); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(overlayAddr[other].Addr(), echoPort)
	got, err := echo(to, fmt.Sprintf("over vxlan from %s", topo.Self.Role))
	if err != nil {
		t.Errorf("echo over vxlan to %s: %v", to, err)
	} else {
		t.Logf("%s -> %s over %s: %q", topo.Self.Role, to, vxlanName, got)
	}
	if err := cluster.Barrier(topo, "vxlan-done", time.Minute, "host1", "host2"); err != nil {
		t.Fatal(err)
	}

	link, err := netlink.LinkByName(vxlanName)
	if err != nil {
		t.Fatal(err)
	}
	st := link.Attrs().Statistics
	if st == nil || st.RxPackets == 0 || st.TxPackets == 0 {
		t.Errorf("%s counted no traffic: %+v", vxlanName, st)
	} else {
		t.Logf("%s: %d packets out, %d in", vxlanName, st.TxPackets, st.RxPackets)
	}
}
