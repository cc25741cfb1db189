package ctl

import (
	"fmt"

	"github.com/bpfnet/bpfnet/driver"
	_ "github.com/bpfnet/bpfnet/driver/bridge" // the drivers register themselves
	_ "github.com/bpfnet/bpfnet/driver/endpointless"
	"github.com/bpfnet/bpfnet/model"
)

// driverEnv is what the instance lends its drivers.
type driverEnv struct{ in *Instance }

func (e driverEnv) InHost(fn func() error) error        { return e.in.inHost(fn) }
func (e driverEnv) Datapath() driver.Datapath           { return e.in.dp }
func (e driverEnv) Step(what string) error              { return e.in.step(what) }
func (e driverEnv) VethAlias(ep *model.Endpoint) string { return e.in.vethAlias(ep) }

func (in *Instance) env() driver.Env { return driverEnv{in} }

// driverOf is n's driver; a network of a driver this bpfnet lacks cannot
// be acted on.
func (in *Instance) driverOf(n *Network) (driver.Driver, error) {
	d, err := in.drivers.Lookup(n.Driver)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	return d, nil
}

// hostDevices names the host-wide devices the drivers keep.
func (in *Instance) hostDevices() map[string]bool {
	out := map[string]bool{}
	for _, d := range in.drivers.All() {
		if hs, ok := d.(driver.HostState); ok {
			for _, name := range hs.Devices() {
				out[name] = true
			}
		}
	}
	return out
}

// join builds ep in the kernel through its network's driver, telling it
// whether c publishes ports (a container connected to one more network,
// or rebuilt, may already; a new one publishes them after its endpoints
// exist).
func (in *Instance) join(c *Container, n *Network, ep *Endpoint) error {
	d, err := in.driverOf(n)
	if err != nil {
		return err
	}
	publishes, err := in.store.HasPorts(c.ID)
	if err != nil {
		return err
	}
	return d.Join(in.env(), c, n, ep, publishes)
}

// leave undoes join.
func (in *Instance) leave(c *Container, n *Network, ep *Endpoint) error {
	d, err := in.driverOf(n)
	if err != nil {
		return err
	}
	return d.Leave(in.env(), c, n, ep)
}

// hostDevice names ep's host-side device.
func (in *Instance) hostDevice(ep *Endpoint) string {
	n := in.state.Networks[ep.NetworkID]
	if n == nil {
		return ""
	}
	d, err := in.driverOf(n)
	if err != nil {
		return ""
	}
	return d.HostDevice(ep)
}
