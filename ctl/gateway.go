package ctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The gateway device holds every bridge network's gateway address in the
// host namespace, with the network's prefix, so the host owns the gateway
// IPs and routes each subnet (other tools, Docker among them, see the
// subnet as taken). Packets never cross it: containers' frames to the
// gateway reach the host stack on their own veth, and the host reaches each
// container by a /32 route on its veth. A veth pair stands in for a dummy
// device, which not every kernel has.
const (
	gatewayDevice     = "bpfnet0"
	gatewayDevicePeer = "bpfnet0p"
)

// ensureGatewayDevice creates the device pair if needed. Call in the host namespace.
func ensureGatewayDevice() (netlink.Link, error) {
	if l, err := netlink.LinkByName(gatewayDevice); err == nil {
		return l, nil
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: gatewayDevice}, PeerName: gatewayDevicePeer}
	if err := netlink.LinkAdd(veth); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create gateway device %s: %w", gatewayDevice, err)
	}
	for _, name := range []string{gatewayDevice, gatewayDevicePeer} {
		_ = kernel.WriteSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1")
		l, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return nil, fmt.Errorf("bring up gateway device %s: %w", name, err)
		}
	}
	return netlink.LinkByName(gatewayDevice)
}

func gatewayAddr(n *Network) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{
		IP:   n.IPAM.Gateway.AsSlice(),
		Mask: net.CIDRMask(n.IPAM.Subnet.Bits(), 32),
	}}
}

// addGateway gives the host n's gateway address. Call in the host namespace.
func addGateway(n *Network) error {
	dev, err := ensureGatewayDevice()
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(dev, gatewayAddr(n)); err != nil {
		return fmt.Errorf("add gateway %v of network %s: %w", n.IPAM.Gateway, n.Name, err)
	}
	return nil
}

// delGateway removes n's gateway address. Call in the host namespace.
func delGateway(n *Network) error {
	dev, err := netlink.LinkByName(gatewayDevice)
	if err != nil {
		return nil // nothing to remove
	}
	if err := netlink.AddrDel(dev, gatewayAddr(n)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove gateway %v of network %s: %w", n.IPAM.Gateway, n.Name, err)
	}
	return nil
}

// hasGateway tells whether the host holds n's gateway address.
func hasGateway(n *Network) bool {
	dev, err := netlink.LinkByName(gatewayDevice)
	if err != nil {
		return false
	}
	addrs, err := kernel.AddrList(dev)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == n.IPAM.Gateway {
			return true
		}
	}
	return false
}

// deleteGatewayDevice removes the pair, with every gateway address.
func deleteGatewayDevice() error {
	l, err := netlink.LinkByName(gatewayDevice)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete gateway device %s: %w", gatewayDevice, err)
	}
	return nil
}

// hostRoutes lists the host's IPv4 routes other than default routes and
// bpfnet's own subnets, for picking a free default pool. Call in the host
// namespace.
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := kernel.MainRoutes()
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	gw, _ := netlink.LinkByName(gatewayDevice)
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil || (gw != nil && r.LinkIndex == gw.Attrs().Index) {
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
