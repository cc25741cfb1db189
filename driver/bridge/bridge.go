// Package bridge is the bridge driver: each container interface is a veth
// pair whose host side carries the datapath's programs, each network's
// gateway is an address of the host on its gateway device, and the
// programs forward, isolate and translate in place of a Linux bridge.
package bridge

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// Driver is the bridge driver.
type Driver struct{}

func init() { driver.Register(Driver{}) }

func (Driver) Name() string            { return model.DriverBridge }
func (Driver) Sandbox() driver.Sandbox { return driver.SandboxEndpoints }

// CreateNetwork gives the host n's gateway address.
func (Driver) CreateNetwork(env driver.Env, n *model.Network) error {
	if err := env.Step("kernel: add gateway of " + n.Name); err != nil {
		return err
	}
	return env.InHost(func() error { return addGateway(n) })
}

// DeleteNetwork takes n's gateway address from the host.
func (Driver) DeleteNetwork(env driver.Env, n *model.Network) error {
	if err := env.Step("kernel: remove gateway of " + n.Name); err != nil {
		return err
	}
	return env.InHost(func() error { return delGateway(n) })
}

// HostDevice is the host side of ep's veth.
func (Driver) HostDevice(ep *model.Endpoint) string { return HostIfname(ep) }

// Reload replaces the programs of ep, attached to its veth, with this
// build's; an endpoint whose veth is gone is left to repair.
func (Driver) Reload(env driver.Env, n *model.Network, ep *model.Endpoint, publishes bool) error {
	return env.InHost(func() error {
		l, err := netlink.LinkByName(HostIfname(ep))
		if err != nil {
			return nil
		}
		return env.Datapath().ReloadEndpoint(datapathEndpoint(n, ep, l.Attrs().Index, publishes))
	})
}

// CheckEndpoint says what is wrong with ep in the kernel, or "".
func (Driver) CheckEndpoint(env driver.Env, ep *model.Endpoint, entries map[netip.Addr]loader.EndpointEntry, stateRight bool) (string, error) {
	name := HostIfname(ep)
	var why string
	err := env.InHost(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			why = fmt.Sprintf("veth %s is missing", name)
			return nil
		}
		ifindex := l.Attrs().Index
		entry, ok := entries[ep.IP]
		switch {
		case !ok:
			why = fmt.Sprintf("%v is missing from the datapath", ep.IP)
		case entry.Ifindex != ifindex || entry.Slot != ep.Slot:
			why = fmt.Sprintf("the datapath sends %v to ifindex %d (slot %d), not %s (%d, slot %d)", ep.IP, entry.Ifindex, entry.Slot, name, ifindex, ep.Slot)
		case !stateRight:
			why = fmt.Sprintf("the datapath's state of slot %d is wrong about published ports", ep.Slot)
		default:
			attached, err := env.Datapath().EndpointAttached(ifindex, ep.Slot)
			if err != nil {
				return err
			}
			if !attached {
				why = fmt.Sprintf("veth %s lacks bpfnet's programs", name)
			}
		}
		return nil
	})
	return why, err
}

// Devices are the host-wide devices the driver keeps.
func (Driver) Devices() []string { return []string{GatewayDevice, GatewayDevicePeer} }

// Sweep makes the gateway device hold exactly the gateways of nets.
func (Driver) Sweep(env driver.Env, nets []*model.Network, fix bool) ([]string, error) {
	var problems []string
	want := map[netip.Prefix]*model.Network{}
	for _, n := range nets {
		want[netip.PrefixFrom(n.IPAM.Gateway, n.IPAM.Subnet.Bits())] = n
	}
	err := env.InHost(func() error {
		have := map[netip.Prefix]bool{}
		if dev, err := netlink.LinkByName(GatewayDevice); err == nil {
			addrs, err := kernel.AddrList(dev)
			if err != nil {
				return fmt.Errorf("list gateway addresses: %w", err)
			}
			for _, a := range addrs {
				ip, _ := netip.AddrFromSlice(a.IP)
				ones, _ := a.Mask.Size()
				p := netip.PrefixFrom(ip.Unmap(), ones)
				have[p] = true
				if want[p] != nil {
					continue
				}
				problems = append(problems, fmt.Sprintf("the gateway device holds %v, which no network has", p))
				if fix {
					if err := netlink.AddrDel(dev, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
						return fmt.Errorf("remove stray gateway %v: %w", p, err)
					}
				}
			}
		}
		for p, n := range want {
			if have[p] {
				continue
			}
			problems = append(problems, fmt.Sprintf("network %s: the host lacks gateway address %v", n.Name, n.IPAM.Gateway))
			if fix {
				if err := env.Step("kernel: add gateway of " + n.Name); err != nil {
					return err
				}
				if err := addGateway(n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return problems, err
}

// RemoveAll removes the gateway device, with every gateway.
func (Driver) RemoveAll(env driver.Env) error { return env.InHost(deleteGatewayDevice) }
