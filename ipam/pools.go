package ipam

import (
	"fmt"
	"net/netip"
)

// PoolSpec is one of Docker's default address pools: Base is carved into
// subnets of prefix length Size.
type PoolSpec struct {
	Base netip.Prefix
	Size int
}

// DefaultPools are Docker's default local pools, in Docker's order
// (libnetwork/ipamutils/utils.go, localScopeDefaultNetworks).
var DefaultPools = []PoolSpec{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.19.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
}

// NextSubnet returns the first subnet carved from pools, in order, that
// overlaps no prefix in taken (subnets of existing networks) and no prefix in
// routed (routes of the host; the caller leaves the default route out, which
// would overlap everything). When none is left it returns ErrNoPool.
func NextSubnet(pools []PoolSpec, taken, routed []netip.Prefix) (netip.Prefix, error) {
	for i, pool := range pools {
		if err := pool.validate(); err != nil {
			return netip.Prefix{}, fmt.Errorf("address pool %d: %w", i, err)
		}
		if subnet, ok := pool.firstFree(taken, routed); ok {
			return subnet, nil
		}
	}
	return netip.Prefix{}, ErrNoPool
}

func (p PoolSpec) validate() error {
	if !p.Base.IsValid() || !p.Base.Addr().Is4() {
		return fmt.Errorf("base %s: %w", p.Base, ErrIPv6NotSupported)
	}
	if p.Size < p.Base.Bits() || p.Size > 32 {
		return fmt.Errorf("base %s: size /%d is not between /%d and /32", p.Base, p.Size, p.Base.Bits())
	}
	return nil
}

// firstFree walks the pool's subnets in address order. On a clash it jumps
// past the clashing prefix rather than stepping one subnet at a time, so a
// route covering a large pool costs one step, not thousands.
func (p PoolSpec) firstFree(taken, routed []netip.Prefix) (netip.Prefix, bool) {
	base := p.Base.Masked()
	block := uint64(1) << (32 - p.Size)
	end := uint64(toUint32(base.Addr())) + uint64(1)<<(32-base.Bits())
	for start := uint64(toUint32(base.Addr())); start < end; {
		subnet := netip.PrefixFrom(fromUint32(uint32(start)), p.Size)
		clash, found := firstOverlap(subnet, taken)
		if !found {
			clash, found = firstOverlap(subnet, routed)
		}
		if !found {
			return subnet, true
		}
		next := start + block
		if past := alignUp(uint64(toUint32(lastAddr(clash)))+1, block); past > next {
			next = past
		}
		start = next
	}
	return netip.Prefix{}, false
}

func alignUp(v, block uint64) uint64 {
	return (v + block - 1) / block * block
}

func firstOverlap(subnet netip.Prefix, prefixes []netip.Prefix) (netip.Prefix, bool) {
	for _, q := range prefixes {
		if Overlaps(subnet, q) {
			return q, true
		}
	}
	return netip.Prefix{}, false
}

// Overlaps reports whether a and b share an address. Host bits are ignored:
// 172.17.0.1/16 is taken to mean 172.17.0.0/16, as a route or bridge address
// would be written.
func Overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Masked().Overlaps(b.Masked())
}

// CheckOverlap returns an error wrapping ErrPoolOverlap when subnet overlaps
// any of existing. The text, "invalid pool request: Pool overlaps with other
// one on this address space", is Docker 25+'s: the wrapping is
// libnetwork/ipams/defaultipam/allocator.go (RequestPool).
//
// Docker skips this check when --ip-range is given (moby#46756); bpfnet does
// not, because its datapath keys endpoints by address alone.
func CheckOverlap(subnet netip.Prefix, existing []netip.Prefix) error {
	if _, found := firstOverlap(subnet, existing); found {
		return fmt.Errorf("invalid pool request: %w", ErrPoolOverlap)
	}
	return nil
}
