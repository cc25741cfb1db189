package ctl

import (
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
)

// restoreDefaultRoute runs in c's namespace after gone was removed.
func (in *Instance) restoreDefaultRoute(c *Container, gone *Endpoint) error {
	if kernel.HasDefaultRoute() {
		return nil
	}
	for _, ep := range c.Endpoints {
		n := in.state.Networks[ep.NetworkID]
		if ep == gone || n == nil || n.Internal {
			continue
		}
		link, err := netlink.LinkByName(ep.Ifname)
		if err != nil {
			continue
		}
		return kernel.AddDefaultRoute(link, n.IPAM.Gateway)
	}
	return nil
}
