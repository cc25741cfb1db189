package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/kernel"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// ipv6Addrs lists the IPv6 addresses of the namespace at path, lo's aside,
// as "device address".
func ipv6Addrs(t *testing.T, path string) []string {
	t.Helper()
	h, err := kernel.Handle(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	addrs, err := kernel.RetryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V6) })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		l, err := h.LinkByIndex(a.LinkIndex)
		if err != nil || l.Attrs().Name == "lo" {
			continue
		}
		out = append(out, l.Attrs().Name+" "+a.IPNet.String())
	}
	return out
}

// ipv6RouteDevs lists the devices of the IPv6 routes of every table of the
// namespace at path.
func ipv6RouteDevs(t *testing.T, path string) []string {
	t.Helper()
	h, err := kernel.Handle(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routes, err := kernel.RetryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// hasContainerVeth: one of devs is a container's host veth (Docker's
// names: "veth" and 7 hex digits).
func hasContainerVeth(devs []string) bool {
	return slices.ContainsFunc(devs, func(d string) bool { return strings.HasPrefix(d, "veth") })
}

// TestNoIPv6AddressesOnEndpoints: bpfnet's networks carry IPv4 only, so
// neither side of an endpoint's veth gets an IPv6 address (a link-local
// one would send neighbour discovery and router solicitations into the
// datapath), even where the namespace leaves IPv6 on: bpfnet sets it per
// device, not through /proc/sys/net/ipv6. A veth the test makes itself in
// the same container namespace does get one: the check can see them.
func TestNoIPv6AddressesOnEndpoints(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	// The test's host namespace starts with IPv6 off for new devices;
	// a real host has it on.
	if err := tu.InNetns(in.HostNetns, func() error {
		return tu.WriteSysctl("net/ipv6/conf/default/disable_ipv6", "0")
	}); err != nil {
		t.Skipf("no IPv6 in this kernel: %v", err)
	}
	in.MustRun("network", "create", "--subnet", "10.61.0.0/24", "v6n")
	c := in.CreateContainer("v6c", "--network", "v6n")

	// Link-local addresses come at once when a device goes up; wait a
	// little in case a kernel is slower.
	time.Sleep(300 * time.Millisecond)
	if got := ipv6Addrs(t, c.Netns()); len(got) > 0 {
		t.Errorf("container namespace has IPv6 addresses: %v", got)
	}
	if got := ipv6Addrs(t, in.HostNetns); len(got) > 0 {
		t.Errorf("host namespace has IPv6 addresses on bpfnet's devices: %v", got)
	}

	// The host sides have IPv6 off altogether: with it on, each gets a
	// multicast route in the host's local table when it comes up, and
	// bringing up a device walks them all (milliseconds per create with
	// thousands of containers). A veth of the test's own gets one.
	if got := ipv6RouteDevs(t, in.HostNetns); hasContainerVeth(got) {
		t.Errorf("host namespace has IPv6 routes on container veths: %v", got)
	}
	if err := tu.AddVeth(in.HostNetns, "ctl6", "", "", ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); !slices.ContainsFunc(ipv6RouteDevs(t, in.HostNetns), func(d string) bool { return d == "ctl6" }); {
		if time.Now().After(deadline) {
			t.Fatal("control: a veth with IPv6 on got no IPv6 route in 3 s; the check cannot see them")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := tu.AddVeth(c.Netns(), "probe6", "", "", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(ipv6Addrs(t, c.Netns())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("control: a veth with IPv6 on got no link-local address in 3 s; the check cannot see them")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
