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
func (m kernelMachine) hostRoutes() ([]netip.Prefix, error) {
	routes, err := kernel.MainRoutes()
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	own := m.ownDeviceIndexes()
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
func (m kernelMachine) ownDeviceIndexes() map[int]bool {
	out := map[int]bool{}
	for name := range m.in.hostDevices() {
		if l, err := netlink.LinkByName(name); err == nil {
			out[l.Attrs().Index] = true
		}
	}
	return out
}

// hostAddrs maps the host's IPv4 addresses, other than bpfnet's own
// gateways on its gateway device, to the index of their device. Call in
// the host namespace.
func (m kernelMachine) hostAddrs() (map[netip.Addr]int, error) {
	addrs, err := kernel.AddrList(nil)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	own := m.ownDeviceIndexes()
	out := map[netip.Addr]int{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !own[a.LinkIndex] {
			out[ip.Unmap()] = a.LinkIndex
		}
	}
	return out, nil
}

// hostRoutesAndAddrs is hostRoutes plus the host's addresses as /32s, so
// that a default subnet skips an address that no route of the main table
// covers (a /32 address, or one added with noprefixroute). Call in the host
// namespace.
func (m kernelMachine) hostRoutesAndAddrs() ([]netip.Prefix, error) {
	routed, err := m.hostRoutes()
	if err != nil {
		return nil, err
	}
	held, err := m.hostAddrs()
	if err != nil {
		return nil, err
	}
	for ip := range held {
		routed = append(routed, netip.PrefixFrom(ip, 32))
	}
	return routed, nil
}
