package bridge

import (
	"errors"
	"fmt"
	"net"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/model"
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
	GatewayDevice     = "bpfnet0"
	GatewayDevicePeer = "bpfnet0p"
)

// ensureGatewayDevice creates the device pair if needed. Call in the host namespace.
func ensureGatewayDevice() (netlink.Link, error) {
	if l, err := netlink.LinkByName(GatewayDevice); err == nil {
		return l, nil
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: GatewayDevice}, PeerName: GatewayDevicePeer}
	if err := netlink.LinkAdd(veth); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create gateway device %s: %w", GatewayDevice, err)
	}
	for _, name := range []string{GatewayDevice, GatewayDevicePeer} {
		l, err := netlink.LinkByName(name)
		if err == nil {
			kernel.NoIPv6Addresses(l)
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return nil, fmt.Errorf("bring up gateway device %s: %w", name, err)
		}
	}
	return netlink.LinkByName(GatewayDevice)
}

func gatewayAddr(n *model.Network) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{
		IP:   n.IPAM.Gateway.AsSlice(),
		Mask: net.CIDRMask(n.IPAM.Subnet.Bits(), 32),
	}}
}

// addGateway gives the host n's gateway address. Call in the host namespace.
func addGateway(n *model.Network) error {
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
func delGateway(n *model.Network) error {
	dev, err := netlink.LinkByName(GatewayDevice)
	if err != nil {
		return nil // nothing to remove
	}
	if err := netlink.AddrDel(dev, gatewayAddr(n)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove gateway %v of network %s: %w", n.IPAM.Gateway, n.Name, err)
	}
	return nil
}

// deleteGatewayDevice removes the pair, with every gateway address.
func deleteGatewayDevice() error {
	l, err := netlink.LinkByName(GatewayDevice)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete gateway device %s: %w", GatewayDevice, err)
	}
	return nil
}
