package ctl

import (
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
)

// hostRoutes lists the host's IPv4 routes other than default routes and
// bpfnet's own subnets, for picking a free default pool. Call in the host
// namespace.
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := kernel.MainRoutes()
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	own := ownDeviceIndexes()
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil || own[r.LinkIndex] {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if ones == 0 {
			continue
		}
		if a, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			out = append(out, netip.PrefixFrom(a.Unmap(), ones).Masked())
		}
	}
	return out, nil
}

// ownDeviceIndexes are the indexes of the drivers' host-wide devices.
// Call in the host namespace.
func ownDeviceIndexes() map[int]bool {
	out := map[int]bool{}
	for name := range hostDevices() {
		if l, err := netlink.LinkByName(name); err == nil {
			out[l.Attrs().Index] = true
		}
	}
	return out
}
