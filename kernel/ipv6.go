package kernel

import (
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// NoIPv6Addresses keeps link from ever getting an IPv6 address of its own
// (no link-local, so no neighbour discovery, router solicitation or MLD
// from it): bpfnet's networks carry IPv4 only, and their programs drop
// IPv6 frames. Call it while link is down, in link's namespace; the mode
// is reset when the device changes namespace. Best effort: a kernel
// without IPv6 has nothing to configure.
//
// It is a netlink request, not the disable_ipv6 sysctl: each namespace
// that looks up /proc/sys/net/ipv6 leaves a dentry in one hash chain that
// every later lookup, from any namespace, walks; with thousands of
// containers that put milliseconds on each command.
func NoIPv6Addresses(link netlink.Link) {
	_ = netlink.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE)
}
