package bridge

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// HostIfname names the host side of an endpoint's veth, as Docker does:
// "veth" and 7 hex digits. It is derived, never read from the store: a
// store is data, and must not name the device bpfnet deletes.
func HostIfname(ep *model.Endpoint) string { return "veth" + ep.ID[:7] }

// datapathEndpoint is what the datapath must know of ep, c's endpoint on n;
// publishes: c has published ports.
func datapathEndpoint(n *model.Network, ep *model.Endpoint, ifindex int, publishes bool) loader.Endpoint {
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
func (Driver) Join(env driver.Env, c *model.Container, n *model.Network, ep *model.Endpoint, publishes bool) (err error) {
	ctrNs, err := netns.GetFromPath(c.Netns)
	if err != nil {
		return fmt.Errorf("open namespace of container %s: %w", c.Name, err)
	}
	defer ctrNs.Close()
	ep.MAC = ipam.MAC(ep.IP).String()
	ep.HostIfname = HostIfname(ep)
	if err := env.Step("kernel: create veth " + ep.HostIfname); err != nil {
		return err
	}
	if ep.Ifname == "" {
		if err := kernel.Do(ctrNs, func() (err error) { ep.Ifname, err = freeIfname(c); return err }); err != nil {
			return err
		}
	}

	defer func() {
		if err != nil {
			_ = Driver{}.Leave(env, c, n, ep)
		}
	}()
	var ifindex int
	err = env.InHost(func() error {
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{
				Name: ep.HostIfname, MTU: n.Settings.MTU, HardwareAddr: ipam.MAC(n.IPAM.Gateway),
				Alias: env.VethAlias(ep),
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
		kernel.NoIPv6Addresses(host)
		// IPv6 off altogether on the host side (in the host namespace
		// only, see kernel.DisableIPv6): a device with IPv6 on gets a
		// multicast route of its own when it comes up, and each device
		// coming up walks all of them.
		kernel.DisableIPv6(ep.HostIfname)
		return nil
	})
	if err != nil {
		return err
	}
	if err := env.Step("kernel: configure " + ep.Ifname + " of " + c.Name); err != nil {
		return err
	}
	if err := kernel.Do(ctrNs, func() error { return configureContainerSide(n, ep, c) }); err != nil {
		return fmt.Errorf("configure %s of container %s: %w", ep.Ifname, c.Name, err)
	}
	if err := env.Step("kernel: configure " + ep.HostIfname); err != nil {
		return err
	}
	return env.InHost(func() error {
		if err := configureHostSide(n, ep, ifindex); err != nil {
			return fmt.Errorf("configure %s of container %s: %w", ep.HostIfname, c.Name, err)
		}
		if err := env.Step("kernel: attach programs to " + ep.HostIfname); err != nil {
			return err
		}
		return env.Datapath().AttachEndpoint(datapathEndpoint(n, ep, ifindex, publishes))
	})
}

// freeIfname is the lowest ethN that neither c's endpoints nor the
// namespace (an adopted one may have its own) use. Call in c's namespace.
func freeIfname(c *model.Container) (string, error) {
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
func configureContainerSide(n *model.Network, ep *model.Endpoint, c *model.Container) error {
	link, err := netlink.LinkByName(ep.Ifname)
	if err != nil {
		return err
	}
	kernel.NoIPv6Addresses(link)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ep.IP.AsSlice(), Mask: net.CIDRMask(n.IPAM.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add address %v: %w", ep.IP, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up: %w", err)
	}
	if n.Internal || kernel.HasDefaultRoute() {
		return nil // internal networks give no way out; the first network keeps the default route
	}
	return kernel.AddDefaultRoute(link, n.IPAM.Gateway)
}

// configureHostSide runs in the host namespace.
func configureHostSide(n *model.Network, ep *model.Endpoint, ifindex int) error {
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
func (Driver) Leave(env driver.Env, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	return env.InHost(func() error {
		if err := env.Step("kernel: detach " + ep.IP.String()); err != nil {
			return err
		}
		if err := env.Datapath().DetachEndpoint(datapathEndpoint(n, ep, 0, false)); err != nil {
			return err
		}
		if _, err := env.Datapath().FlushConntrack(ep.IP); err != nil {
			return err
		}
		name := HostIfname(ep)
		link, err := netlink.LinkByName(name)
		if err != nil {
			return nil
		}
		if err := env.Step("kernel: delete veth " + name); err != nil {
			return err
		}
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete veth %s of container %s: %w", name, c.Name, err)
		}
		return nil
	})
}
