package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
)

// Check compares the kernel with the store and describes every difference.
func (in *Instance) Check() ([]string, error) { return in.reconcile(false) }

// Repair rebuilds whatever the kernel lacks and returns what it found and
// could not fix.
func (in *Instance) Repair() ([]string, error) { return in.reconcile(true) }

// reconcile walks the store and checks that the kernel has every piece of
// it, rebuilding missing pieces when fix is set. After a fresh datapath
// (a reboot, or pins removed) every endpoint is rebuilt: programs that
// survived would still point at the old maps.
func (in *Instance) reconcile(fix bool) (problems []string, err error) {
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, n := range in.Networks() {
		if n.Driver != DriverBridge {
			continue
		}
		var ok bool
		_ = in.inHost(func() error { ok = hasGateway(n); return nil })
		if ok {
			continue
		}
		report("network %s: the host lacks gateway address %v", n.Name, n.IPAM.Gateway)
		if fix {
			if err := in.inHost(func() error { return addGateway(n) }); err != nil {
				return problems, err
			}
		}
	}
	for _, c := range in.Containers() {
		if c.Mode == NetworkHost {
			continue
		}
		rebuildAll := in.dp.Fresh()
		if !kernel.IsNetns(c.Netns) {
			if c.Adopted {
				report("container %s: adopted namespace %s is gone; remove the container with 'bpfnet container rm %s'", c.Name, c.Netns, c.Name)
				continue
			}
			report("container %s: namespace %s is gone", c.Name, c.Netns)
			if !fix {
				continue
			}
			if err := os.Remove(c.Netns); err != nil && !errors.Is(err, os.ErrNotExist) {
				return problems, fmt.Errorf("remove stale namespace file %s: %w", c.Netns, err)
			}
			if _, err := createNamedNetns(filepath.Dir(c.Netns), filepath.Base(c.Netns), setupContainerNetns); err != nil {
				return problems, err
			}
			rebuildAll = true
		}
		for _, ep := range c.Endpoints {
			n := in.state.Networks[ep.NetworkID]
			if !rebuildAll {
				why := in.endpointProblem(ep)
				if why == "" {
					continue
				}
				report("container %s: endpoint on %s: %s", c.Name, n.Name, why)
			}
			if !fix {
				continue
			}
			if err := in.disconnectKernel(c, n, ep); err != nil {
				return problems, err
			}
			if err := in.connectKernel(c, n, ep); err != nil {
				return problems, err
			}
		}
		if fix {
			published, err := in.store.Ports(c.ID)
			if err != nil {
				return problems, err
			}
			if err := in.publishPorts(c, published); err != nil {
				return problems, err
			}
		}
	}
	return problems, nil
}

// endpointProblem says what is wrong with ep in the kernel, or "".
func (in *Instance) endpointProblem(ep *Endpoint) string {
	var ifindex int
	_ = in.inHost(func() error {
		if l, err := netlink.LinkByName(ep.HostIfname); err == nil {
			ifindex = l.Attrs().Index
		}
		return nil
	})
	if ifindex == 0 {
		return fmt.Sprintf("veth %s is missing", ep.HostIfname)
	}
	got, ok, err := in.dp.EndpointIfindex(ep.IP)
	switch {
	case err != nil:
		return err.Error()
	case !ok:
		return fmt.Sprintf("%v is missing from the datapath", ep.IP)
	case got != ifindex:
		return fmt.Sprintf("the datapath sends %v to ifindex %d, not %s (%d)", ep.IP, got, ep.HostIfname, ifindex)
	}
	return ""
}

// Reset removes everything the instance made: containers' namespaces and
// veths, gateway addresses, pins and the store. The instance is closed.
func (in *Instance) Reset() error {
	var errs []error
	for _, c := range in.Containers() {
		if err := in.RemoveContainer(c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, in.inHost(deleteGatewayDevice))
	if uplinks, err := in.dp.Uplinks(); err == nil {
		errs = append(errs, in.inHost(func() error {
			for index := range uplinks {
				if err := in.dp.DetachUplink(index); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	errs = append(errs, in.dp.Remove())
	in.unmountCgroup2()
	in.dp = nil
	in.store.Close()
	in.store = nil
	for _, path := range []string{
		in.opts.Root + "/bpfnet.db", in.opts.Root + "/lock",
	} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if in.opts.NetnsDir != "/run/netns" {
		_ = os.Remove(in.opts.NetnsDir) // only when empty
	}
	if in.opts.Root != DefaultRoot {
		_ = os.Remove(in.opts.Root)
	}
	in.Close()
	return errors.Join(errs...)
}
