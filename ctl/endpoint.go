package ctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
)

// hostIfname names the host side of an endpoint's veth, as Docker does:
// "veth" and 7 hex digits. It is derived, never read from the store: a
// store is data, and must not name the device bpfnet deletes.
func hostIfname(ep *Endpoint) string { return "veth" + ep.ID[:7] }

// datapathEndpoint is what the datapath must know of ep, c's endpoint on n;
// publishes: c has published ports.
func datapathEndpoint(n *Network, ep *Endpoint, ifindex int, publishes bool) loader.Endpoint {
	return loader.Endpoint{
		Slot: ep.Slot, Network: n.Number, IP: ep.IP, MAC: ipam.MAC(ep.IP),
		Subnet: n.IPAM.Subnet, Gateway: n.IPAM.Gateway, GatewayMAC: ipam.MAC(n.IPAM.Gateway),
		ICCDisabled: !n.Settings.ICC, Internal: n.Internal, NoMasquerade: !n.Settings.Masquerade,
		PublishesPorts: publishes, HostIfindex: ifindex,
	}
}

// connectKernel builds ep: a veth pair whose host side carries the
// gateway's MAC (so the container's frames to the gateway are the host's),
// the address and routes in the container, a /32 route and a permanent
// neighbour entry on the host side, and the datapath programs. On error it
// leaves nothing behind.
func (in *Instance) connectKernel(c *Container, n *Network, ep *Endpoint) (err error) {
	ctrNs, err := netns.GetFromPath(c.Netns)
	if err != nil {
		return fmt.Errorf("open namespace of container %s: %w", c.Name, err)
	}
	defer ctrNs.Close()
	ep.MAC = ipam.MAC(ep.IP).String()
	ep.HostIfname = hostIfname(ep)
	if err := in.step("kernel: create veth " + ep.HostIfname); err != nil {
		return err
	}
	if ep.Ifname == "" {
		if err := kernel.Do(ctrNs, func() (err error) { ep.Ifname, err = freeIfname(c); return err }); err != nil {
			return err
		}
	}

	defer func() {
		if err != nil {
			_ = in.disconnectKernel(c, n, ep)
		}
	}()
	var ifindex int
	err = in.inHost(func() error {
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{
				Name: ep.HostIfname, MTU: n.Settings.MTU, HardwareAddr: ipam.MAC(n.IPAM.Gateway),
				Alias: in.vethAlias(ep),
			},
			PeerName: ep.Ifname, PeerHardwareAddr: ipam.MAC(ep.IP), PeerMTU: uint32(n.Settings.MTU),
			PeerNamespace: netlink.NsFd(int(ctrNs)),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s for container %s: %w", ep.HostIfname, c.Name, err)
		}
		host, err := netlink.LinkByName(ep.HostIfname)
		if err != nil {
			return fmt.Errorf("find veth %s: %w", ep.HostIfname, err)
		}
		ifindex = host.Attrs().Index
		kernel.DisableIPv6(ep.HostIfname)
		return nil
	})
	if err != nil {
		return err
	}
	if err := in.step("kernel: configure " + ep.Ifname + " of " + c.Name); err != nil {
		return err
	}
	if err := kernel.Do(ctrNs, func() error { return configureContainerSide(n, ep, c) }); err != nil {
		return fmt.Errorf("configure %s of container %s: %w", ep.Ifname, c.Name, err)
	}
	// A container connected to one more network, or rebuilt, may already
	// publish ports; a new one publishes them after its endpoints exist.
	publishes, err := in.store.HasPorts(c.ID)
	if err != nil {
		return err
	}
	if err := in.step("kernel: configure " + ep.HostIfname); err != nil {
		return err
	}
	return in.inHost(func() error {
		if err := configureHostSide(n, ep, ifindex); err != nil {
			return fmt.Errorf("configure %s of container %s: %w", ep.HostIfname, c.Name, err)
		}
		if err := in.step("kernel: attach programs to " + ep.HostIfname); err != nil {
			return err
		}
		return in.dp.AttachEndpoint(datapathEndpoint(n, ep, ifindex, publishes))
	})
}

// freeIfname is the lowest ethN that neither c's endpoints nor the
// namespace (an adopted one may have its own) use. Call in c's namespace.
func freeIfname(c *Container) (string, error) {
	taken := map[string]bool{}
	for _, ep := range c.Endpoints {
		taken[ep.Ifname] = true
	}
	for i := 0; i < 1024; i++ {
		name := fmt.Sprintf("eth%d", i)
		if _, err := netlink.LinkByName(name); err == nil || taken[name] {
			continue
		}
		return name, nil
	}
	return "", fmt.Errorf("no free ethN interface name in container %s", c.Name)
}

// configureContainerSide runs in the container's namespace.
func configureContainerSide(n *Network, ep *Endpoint, c *Container) error {
	link, err := netlink.LinkByName(ep.Ifname)
	if err != nil {
		return err
	}
	_ = kernel.WriteSysctl("net/ipv6/conf/"+ep.Ifname+"/disable_ipv6", "1")
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ep.IP.AsSlice(), Mask: net.CIDRMask(n.IPAM.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add address %v: %w", ep.IP, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up: %w", err)
	}
	if n.Internal || hasDefaultRoute() {
		return nil // internal networks give no way out; the first network keeps the default route
	}
	return addDefaultRoute(link, n.IPAM.Gateway)
}

func hasDefaultRoute() bool {
	routes, err := kernel.MainRoutes()
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

func addDefaultRoute(link netlink.Link, gw netip.Addr) error {
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %v: %w", gw, err)
	}
	return nil
}

// configureHostSide runs in the host namespace.
func configureHostSide(n *Network, ep *Endpoint, ifindex int) error {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up: %w", err)
	}
	route := &netlink.Route{
		LinkIndex: ifindex, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: ep.IP.AsSlice(), Mask: net.CIDRMask(32, 32)}, Src: n.IPAM.Gateway.AsSlice(),
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("add route to %v: %w", ep.IP, err)
	}
	neigh := &netlink.Neigh{
		LinkIndex: ifindex, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: ep.IP.AsSlice(), HardwareAddr: ipam.MAC(ep.IP),
	}
	if err := netlink.NeighSet(neigh); err != nil {
		return fmt.Errorf("add neighbour %v: %w", ep.IP, err)
	}
	return nil
}

// disconnectKernel undoes connectKernel; pieces already gone are fine.
// Deleting the veth takes its routes, neighbour entry, tc filters and the
// container side with it; the endpoint's flows go from conntrack, so none
// sends a later flow to a reused address.
func (in *Instance) disconnectKernel(c *Container, n *Network, ep *Endpoint) error {
	return in.inHost(func() error {
		if err := in.step("kernel: detach " + ep.IP.String()); err != nil {
			return err
		}
		if err := in.dp.DetachEndpoint(datapathEndpoint(n, ep, 0, false)); err != nil {
			return err
		}
		if _, err := in.dp.FlushConntrack(ep.IP); err != nil {
			return err
		}
		name := hostIfname(ep)
		link, err := netlink.LinkByName(name)
		if err != nil {
			return nil
		}
		if err := in.step("kernel: delete veth " + name); err != nil {
			return err
		}
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete veth %s of container %s: %w", name, c.Name, err)
		}
		return nil
	})
}

// restoreDefaultRoute runs in c's namespace after gone was removed.
func (in *Instance) restoreDefaultRoute(c *Container, gone *Endpoint) error {
	if hasDefaultRoute() {
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
		return addDefaultRoute(link, n.IPAM.Gateway)
	}
	return nil
}
