package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Used is the addresses taken on a network, in increasing order (the
// order of the store's address index): the lowest free address is found
// by walking it beside the candidates, with no set built per command.
type Used []netip.Addr

// NewUsed sorts addrs into a Used.
func NewUsed(addrs ...netip.Addr) Used {
	u := slices.Clone(addrs)
	slices.SortFunc(u, netip.Addr.Compare)
	return slices.Compact(u)
}

// Has tells whether ip is taken.
func (u Used) Has(ip netip.Addr) bool {
	_, found := slices.BinarySearchFunc(u, ip, netip.Addr.Compare)
	return found
}

// Allocate picks an address for a container.
//
// A requested address must lie in the subnet (it may lie outside the
// ip-range: that is what the ip-range leaves room for) and must not be the
// network or broadcast address, the gateway, or in used. Out of the subnet the
// error reads "invalid endpoint settings:\nno configured subnet or ip-range
// contain the IP address <ip>" (daemon/container_operations.go,
// validateEndpointSettings, around api/types/network/endpoint.go); Docker then
// prefixes "invalid config for network <name>: " (daemon/create.go), which
// is the caller's to add as only it knows the name. Otherwise taken: ErrAddressInUse.
//
// With no requested address it returns the lowest address of the ip-range
// (of the subnet without one) that is not the subnet's network or broadcast
// address, the gateway, or in used, as Docker's non-serial allocator does;
// none free: ErrNoAvailableIPs. Docker shows that to users as "no available
// IPv4 addresses on this network's address pools: <name> (<id>)"
// (daemon/libnetwork/endpoint.go), again the caller's to word.
//
// A /31 or /32 has no network or broadcast address (see ParseConfig).
func (c Config) Allocate(requested netip.Addr, used Used) (netip.Addr, error) {
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
		return netip.Addr{}, errors.New("ipam config has no IPv4 subnet")
	}
	if requested.IsValid() {
		return c.allocateRequested(requested.Unmap(), used)
	}
	ip, ok := c.firstFree(used)
	if !ok {
		return netip.Addr{}, ErrNoAvailableIPs
	}
	return ip, nil
}

func (c Config) allocateRequested(ip netip.Addr, used Used) (netip.Addr, error) {
	// Both checks run, and both may fail, as in Docker's validateEndpointSettings.
	var problems []error
	if !ip.Is4() || ip.IsUnspecified() {
		// api/types/network/endpoint.go (EndpointIPAMConfig.Validate)
		problems = append(problems, fmt.Errorf("invalid IPv4 address: %s", ip))
	}
	if !c.Subnet.Contains(ip) {
		problems = append(problems, fmt.Errorf("%w %s", ErrAddressNotInSubnet, ip))
	}
	if len(problems) > 0 {
		return netip.Addr{}, fmt.Errorf("invalid endpoint settings:\n%w", joinedErrors(problems))
	}
	if c.isReserved(ip, used) {
		return netip.Addr{}, ErrAddressInUse
	}
	return ip, nil
}

// firstFree scans the part of the ip-range inside the subnet, lowest first.
func (c Config) firstFree(used Used) (netip.Addr, bool) {
	from, to := span(c.Subnet)
	if c.IPRange.IsValid() {
		rangeFrom, rangeTo := span(c.IPRange)
		from, to = max(from, rangeFrom), min(to, rangeTo)
	}
	next := 0 // the first of used not below the candidate
	// uint64 so that the loop ends after 255.255.255.255.
	for a := uint64(from); a <= uint64(to); a++ {
		ip := fromUint32(uint32(a))
		for next < len(used) && used[next].Less(ip) {
			next++
		}
		taken := next < len(used) && used[next] == ip
		if !taken && !c.isNetworkOrGateway(ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (c Config) isReserved(ip netip.Addr, used Used) bool {
	return c.isNetworkOrGateway(ip) || used.Has(ip)
}

func (c Config) isNetworkOrGateway(ip netip.Addr) bool {
	return isNetworkOrBroadcast(c.Subnet, ip) || ip == c.Gateway
}

// isNetworkOrBroadcast: Docker reserves both only in subnets of more than two
// addresses (libnetwork/ipams/defaultipam/allocator.go, newPoolData).
func isNetworkOrBroadcast(subnet netip.Prefix, ip netip.Addr) bool {
	if subnet.Bits() > 30 {
		return false
	}
	return ip == subnet.Masked().Addr() || ip == lastAddr(subnet)
}
