package e2e

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestFreshHostNamespace: a host namespace as `ip netns add` makes it (lo
// down, forwarding off) is prepared by the first command: 127.0.0.1 must
// work for published ports and the socket programs' probe.
func TestFreshHostNamespace(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	loUp := func() bool {
		up := false
		if err := tu.InNetns(in.HostNetns, func() error {
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			up = lo.Attrs().Flags&net.FlagUp != 0
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return up
	}
	if err := tu.InNetns(in.HostNetns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetDown(lo)
	}); err != nil {
		t.Fatal(err)
	}
	if loUp() {
		t.Fatal("lo still up in the test's host namespace")
	}
	in.MustRun("network", "ls")
	if !loUp() {
		t.Error("after the first command, lo of the host namespace is still down")
	}
	if v, err := tu.ReadSysctl(in.HostNetns, "net/ipv4/ip_forward"); err != nil || v != "1" {
		t.Errorf("ip_forward = %q, %v; want 1", v, err)
	}
}
