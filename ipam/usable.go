package ipam

import (
	"errors"
	"fmt"
	"net/netip"
)

var (
	// ErrSpecialPurpose is bpfnet's own (Docker accepts these subnets and
	// breaks the host): a bridge network's gateway becomes a host address
	// and its subnet a host route, which in these ranges shadows loopback,
	// link-local or multicast traffic, or can never be routed at all.
	ErrSpecialPurpose = errors.New("a special-purpose range that a bridge network cannot use")

	// ErrSubnetTooSmall is bpfnet's own too: Docker takes a /31's first
	// address, which is its network address, as the gateway (moby#42626).
	ErrSubnetTooSmall = errors.New("a bridge network needs a /30 or larger, with room for the network address, the gateway, a container and the broadcast address")
)

// specialRanges are the IPv4 special-purpose ranges (RFC 6890) no bridge
// subnet may overlap.
var specialRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network"`},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "class E and the limited broadcast"},
}

// smallestSubnet is the longest prefix a bridge network may have: a /30
// holds exactly one container.
const smallestSubnet = 30

// CheckUsable refuses a subnet that overlaps a special-purpose range or is
// too small for a gateway and one container.
func CheckUsable(subnet netip.Prefix) error {
	for _, r := range specialRanges {
		if Overlaps(subnet, r.prefix) {
			return fmt.Errorf("invalid subnet %s: it overlaps %s (%s), %w", subnet, r.prefix, r.what, ErrSpecialPurpose)
		}
	}
	if subnet.Bits() > smallestSubnet {
		return fmt.Errorf("invalid subnet %s: %w", subnet, ErrSubnetTooSmall)
	}
	return nil
}
