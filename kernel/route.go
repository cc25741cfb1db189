package kernel

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// HasDefaultRoute tells whether the calling thread's namespace has an
// IPv4 default route.
func HasDefaultRoute() bool {
	routes, err := MainRoutes()
	if err != nil {
		return false
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			return true
		}
	}
	return false
}

// AddDefaultRoute routes everything through gw on link.
func AddDefaultRoute(link netlink.Link, gw netip.Addr) error {
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %v: %w", gw, err)
	}
	return nil
}
