package ctltest

import (
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// Driver is a fake driver of networks with endpoints, shaped as the
// bridge: a veth per endpoint whose host side carries the endpoint's
// programs, and a gateway per network, all in its Kernel.
type Driver struct {
	name string
	k    *Kernel
}

var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.HostState = (*Driver)(nil)
)

// NewDriver is a fake driver called name, acting on k.
func NewDriver(name string, k *Kernel) *Driver { return &Driver{name: name, k: k} }

// Drivers is a registry for an instance on k: the fake driver as the
// bridge (so the predefined bridge network is the fake's), and the real
// host and null drivers, which have no kernel state.
func Drivers(k *Kernel) *driver.Registry {
	r := driver.NewRegistry(NewDriver(model.DriverBridge, k))
	for _, name := range []string{model.DriverHost, model.DriverNull} {
		d, err := driver.Lookup(name)
		if err != nil {
			panic(err) // ctl registers them
		}
		r.Register(d)
	}
	return r
}

func (d *Driver) Name() string            { return d.name }
func (d *Driver) Sandbox() driver.Sandbox { return driver.SandboxEndpoints }

func (d *Driver) Settings(opts map[string]string) (model.Settings, error) {
	for key := range opts {
		return model.Settings{}, fmt.Errorf("invalid option %q for the %s driver", key, d.name)
	}
	return model.Settings{ICC: true, MTU: 1500, Masquerade: true}, nil
}

func (d *Driver) CreateNetwork(env driver.Env, n *model.Network) error {
	if d.k.Gateways[n.ID] {
		return nil
	}
	done, err := d.k.change("CreateNetwork", n.Name)
	if err != nil {
		return err
	}
	d.k.Gateways[n.ID] = true
	done()
	return nil
}

func (d *Driver) DeleteNetwork(env driver.Env, n *model.Network) error {
	if !d.k.Gateways[n.ID] {
		return nil
	}
	done, err := d.k.change("DeleteNetwork", n.Name)
	if err != nil {
		return err
	}
	delete(d.k.Gateways, n.ID)
	done()
	return nil
}

func (d *Driver) HostDevice(ep *model.Endpoint) string { return "veth" + ep.ID[:7] }

// Join makes the veth, then attaches the programs; on error it deletes
// the veth.
func (d *Driver) Join(env driver.Env, c *model.Container, n *model.Network, ep *model.Endpoint, publishes bool) error {
	ns := d.k.Netns[c.Netns]
	if ns == nil || !ns.Bound {
		return fmt.Errorf("container %s: namespace %s is gone", c.Name, c.Netns)
	}
	ep.HostIfname = d.HostDevice(ep)
	if ep.Ifname == "" {
		for i := 0; ep.Ifname == ""; i++ {
			if name := fmt.Sprintf("eth%d", i); !ns.Devices[name] {
				ep.Ifname = name
			}
		}
	}
	done, err := d.k.change("CreateVeth", ep.HostIfname, c.Name)
	if err != nil {
		return err
	}
	l := d.k.AddVeth(ep.HostIfname, env.VethAlias(ep), c.Netns, ep.Ifname)
	done()
	err = env.Datapath().AttachEndpoint(endpointOf(n, ep, l.Index, publishes))
	if err != nil {
		d.k.deleteVeth(ep.HostIfname)
	}
	return err
}

func endpointOf(n *model.Network, ep *model.Endpoint, ifindex int, publishes bool) loader.Endpoint {
	return loader.Endpoint{Slot: ep.Slot, Network: n.Number, IP: ep.IP, Subnet: n.IPAM.Subnet, Gateway: n.IPAM.Gateway,
		Internal: n.Internal, PublishesPorts: publishes, HostIfindex: ifindex}
}

// Leave detaches the programs, forgets the flows and deletes the veth.
func (d *Driver) Leave(env driver.Env, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	if err := env.Datapath().DetachEndpoint(endpointOf(n, ep, 0, false)); err != nil {
		return err
	}
	if _, err := env.Datapath().FlushConntrack(ep.IP); err != nil {
		return err
	}
	if d.k.Links[d.HostDevice(ep)] == nil {
		return nil
	}
	done, err := d.k.change("DeleteVeth", d.HostDevice(ep))
	if err != nil {
		return err
	}
	d.k.deleteVeth(d.HostDevice(ep))
	done()
	return nil
}

func (d *Driver) Reload(env driver.Env, n *model.Network, ep *model.Endpoint, publishes bool) error {
	l := d.k.Links[d.HostDevice(ep)]
	if l == nil {
		return nil
	}
	return env.Datapath().ReloadEndpoint(endpointOf(n, ep, l.Index, publishes))
}

func (d *Driver) CheckEndpoint(env driver.Env, ep *model.Endpoint, entries map[netip.Addr]loader.EndpointEntry, stateRight bool) (string, error) {
	name := d.HostDevice(ep)
	l := d.k.Links[name]
	if l == nil {
		return fmt.Sprintf("veth %s is missing", name), nil
	}
	entry, ok := entries[ep.IP]
	switch {
	case !ok:
		return fmt.Sprintf("%v is missing from the datapath", ep.IP), nil
	case entry.Ifindex != l.Index || entry.Slot != ep.Slot:
		return fmt.Sprintf("the datapath sends %v to ifindex %d (slot %d), not %s (%d, slot %d)", ep.IP, entry.Ifindex, entry.Slot, name, l.Index, ep.Slot), nil
	case !stateRight:
		return fmt.Sprintf("the datapath's state of slot %d is wrong about published ports", ep.Slot), nil
	}
	attached, err := env.Datapath().EndpointAttached(l.Index, ep.Slot)
	if err != nil || attached {
		return "", err
	}
	return fmt.Sprintf("veth %s lacks bpfnet's programs", name), nil
}

// Devices: the fake's gateways need no host device.
func (d *Driver) Devices() []string { return nil }

// Sweep makes the host hold exactly the gateways of nets.
func (d *Driver) Sweep(env driver.Env, nets []*model.Network, fix bool) ([]string, error) {
	var problems []string
	want := map[string]*model.Network{}
	for _, n := range nets {
		want[n.ID] = n
		if !d.k.Gateways[n.ID] {
			problems = append(problems, fmt.Sprintf("the gateway of network %s is missing", n.Name))
			if fix {
				if err := d.CreateNetwork(env, n); err != nil {
					return problems, err
				}
			}
		}
	}
	for id := range d.k.Gateways {
		if want[id] == nil {
			problems = append(problems, fmt.Sprintf("the host holds the gateway of network %s, which has no record", id))
			if fix {
				if err := d.DeleteNetwork(env, &model.Network{ID: id, Name: id}); err != nil {
					return problems, err
				}
			}
		}
	}
	return problems, nil
}

func (d *Driver) RemoveAll(env driver.Env) error {
	for id := range d.k.Gateways {
		if err := d.DeleteNetwork(env, &model.Network{ID: id, Name: id}); err != nil {
			return err
		}
	}
	return nil
}
