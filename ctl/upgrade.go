package ctl

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/loader"
)

// keyDatapath is the store's record of the datapath version whose programs
// the kernel runs (loader.Version).
const keyDatapath = "datapath"

// reloadIfUpgraded replaces every program of the instance when the running
// ones came from a bpfnet with another datapath, as after an upgrade:
// otherwise they would stay until their containers were made again. Maps,
// and so flows and counters, carry over.
func (in *Instance) reloadIfUpgraded() error {
	running, err := in.store.Meta(keyDatapath)
	if err != nil {
		return err
	}
	want := loader.Version()
	if running == want {
		return nil
	}
	all, err := in.allContainers()
	if err != nil {
		return err
	}
	if len(all) > 0 {
		fmt.Fprintf(in.opts.Stderr, "bpfnet: the running programs are not this bpfnet's (datapath %q, this is %s): replacing them\n", running, want)
	}
	if err := in.hostInLine(); err != nil {
		return err
	}
	if err := in.reloadPrograms(); err != nil {
		return fmt.Errorf("replace programs of another bpfnet version: %w", err)
	}
	return in.store.PutMeta(keyDatapath, want)
}

// recordDatapath notes that the kernel runs this build's programs.
func (in *Instance) recordDatapath() error {
	running, err := in.store.Meta(keyDatapath)
	if err != nil || running == loader.Version() {
		return err
	}
	return in.store.PutMeta(keyDatapath, loader.Version())
}

// reloadPrograms loads this build's programs in place of every attached
// one: each endpoint's, then the host-wide ones (each uplink's and the
// socket programs). An endpoint whose veth is gone is left to `system
// repair`.
func (in *Instance) reloadPrograms() error {
	all, err := in.allContainers()
	if err != nil {
		return err
	}
	for _, c := range all {
		publishes, err := in.store.HasPorts(c.ID)
		if err != nil {
			return err
		}
		for _, ep := range c.Endpoints {
			n := in.state.Networks[ep.NetworkID]
			d, err := in.driverOf(n)
			if err == nil {
				err = d.Reload(in.env(), n, ep, publishes)
			}
			if err != nil {
				return fmt.Errorf("container %s on %s: %w", c.Name, n.Name, err)
			}
		}
	}
	return in.machine.ReloadHost()
}

// reloadHostPrograms replaces the uplinks' and the socket programs.
func (in *Instance) reloadHostPrograms() error {
	uplinks, err := in.dp.Uplinks()
	if err != nil {
		return err
	}
	err = in.inHost(func() error {
		for index, ip := range uplinks {
			if _, err := netlink.LinkByIndex(index); err != nil {
				// Gone since the last sync: nothing to replace.
				if err := in.dp.DetachUplink(index); err != nil {
					return err
				}
				continue
			}
			if err := in.dp.AttachUplink(index, ip); err != nil {
				return fmt.Errorf("uplink %d: %w", index, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cgroup, err := in.cgroup2Root()
	if err != nil {
		return err
	}
	return in.dp.AttachSockets(cgroup, true)
}
