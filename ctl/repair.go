package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
)

// Check compares the kernel with the store both ways and describes every
// difference: what the store holds and the kernel lacks, and what the
// kernel holds of the instance that the store does not explain. It
// changes nothing.
func (in *Instance) Check() ([]string, error) {
	var problems []string
	if it := in.interrupted; it != nil {
		problems = append(problems, fmt.Sprintf("an interrupted command (%s, started %s) may have left changes the store does not hold: the next command or 'bpfnet system repair' rolls them back",
			it.Op, it.Started.Format("2006-01-02T15:04:05Z")))
	}
	if err := in.store.Verify(); err != nil {
		return problems, err
	}
	if _, err := in.datapath(); errors.Is(err, loader.ErrNotLoaded) {
		return append(problems, "the datapath is not loaded (a reboot?): the next command rebuilds it from the store"), nil
	} else if err != nil {
		return problems, err
	}
	found, err := in.reconcile(false)
	return append(problems, found...), err
}

// Repair makes the kernel what the store describes, both ways, and
// returns what it found and fixed. Open has already rolled back an
// interrupted command.
func (in *Instance) Repair() ([]string, error) {
	if err := in.store.Verify(); err != nil {
		return nil, err
	}
	if err := in.hostInLine(); err != nil {
		return nil, err
	}
	found, err := in.reconcile(true)
	in.sweepVolumeLeftovers() // a killed volume create or rm: never a volume
	return append(in.rolledBack, found...), err
}

// rollBack undoes what an interrupted command left: the namespace files
// and veths its intent names that the store does not hold, then whatever
// else differs between kernel and store.
func (in *Instance) rollBack(it *Intent) error {
	fmt.Fprintf(in.opts.Stderr, "bpfnet: rolling back an interrupted command (%s)\n", it.Op)
	in.pending = it
	all, err := in.allContainers()
	if err != nil {
		return err
	}
	heldNetns, heldVeths := map[string]bool{}, map[string]bool{}
	for _, c := range all {
		heldNetns[c.Netns] = true
		for _, ep := range c.Endpoints {
			heldVeths[in.hostDevice(ep)] = true
		}
	}
	for _, path := range it.Netns {
		if heldNetns[path] || in.ownNetnsPath(path) != nil {
			continue
		}
		if at := in.machine.NetnsAt(path); at == BoundNetns || at == UnboundFile {
			if err := in.machine.DeleteNetns(path); err != nil {
				return fmt.Errorf("roll back %s: %w", it.Op, err)
			}
			in.rolledBack = append(in.rolledBack, "removed namespace "+path+" of the interrupted command")
		}
	}
	for _, name := range it.Veths {
		if heldVeths[name] || !strings.HasPrefix(name, "veth") {
			continue
		}
		deleted, err := in.machine.DeleteLink(name)
		if err != nil {
			return fmt.Errorf("roll back %s: delete veth %s: %w", it.Op, name, err)
		}
		if deleted {
			in.rolledBack = append(in.rolledBack, "removed veth "+name+" of the interrupted command")
		}
	}
	found, err := in.reconcile(true)
	if err != nil {
		return fmt.Errorf("roll back %s: %w", it.Op, err)
	}
	in.rolledBack = append(in.rolledBack, found...)
	in.end()
	return nil
}

// reconciler walks store and kernel, reporting each difference and, with
// fix, mending it.
type reconciler struct {
	in       *Instance
	dp       Datapath
	fix      bool
	problems []string
	// from the store
	veths map[string]bool          // host-side veth names
	slots map[uint32]*Endpoint     // endpoint slots in use
	ips   map[netip.Addr]*Endpoint // endpoint addresses
}

func (r *reconciler) report(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// reconcile compares the kernel with the store both ways, mending every
// difference when fix is set. After a fresh datapath (a reboot, or pins
// removed) every endpoint is rebuilt: programs that survived would still
// point at the old maps.
func (in *Instance) reconcile(fix bool) ([]string, error) {
	dp, err := in.datapath()
	if err != nil {
		return nil, err
	}
	all, err := in.allContainers()
	if err != nil {
		return nil, err
	}
	r := &reconciler{in: in, dp: dp, fix: fix, veths: map[string]bool{}, slots: map[uint32]*Endpoint{}, ips: map[netip.Addr]*Endpoint{}}
	for _, c := range all {
		for _, ep := range c.Endpoints {
			r.veths[in.hostDevice(ep)], r.slots[ep.Slot], r.ips[ep.IP] = true, ep, ep
		}
	}
	for _, step := range []func() error{r.hostState, r.containers, r.ports, r.udpSockets, r.orphanVeths, r.orphanEntries, r.orphanNetns, r.staleFlows} {
		if err := step(); err != nil {
			return r.problems, err
		}
	}
	return r.problems, nil
}

// hostState: each driver's host-wide state (the bridge's gateways) is
// exactly what its networks in the store need.
func (r *reconciler) hostState() error {
	for _, d := range r.in.drivers.All() {
		hs, ok := d.(driver.HostState)
		if !ok {
			continue
		}
		var nets []*Network
		for _, n := range r.in.Networks() {
			if n.Driver == d.Name() {
				nets = append(nets, n)
			}
		}
		found, err := hs.Sweep(r.in.env(), nets, r.fix)
		r.problems = append(r.problems, found...)
		if err != nil {
			return err
		}
	}
	return nil
}

// containers: each container's namespace and endpoints are whole.
func (r *reconciler) containers() error {
	in := r.in
	entries, err := r.dp.EndpointEntries()
	if err != nil {
		return err
	}
	publishing, err := r.dp.PublishingSlots()
	if err != nil {
		return err
	}
	all, err := in.Containers()
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.Mode == NetworkHost || c.SharesWith != "" {
			continue // no namespace of its own
		}
		rebuildAll := r.dp.Fresh()
		if !in.isNetns(c.Netns) {
			if c.Adopted {
				r.report("container %s: adopted namespace %s is gone; remove the container with 'bpfnet container rm %s'", c.Name, c.Netns, c.Name)
				continue
			}
			r.report("container %s: namespace %s is gone", c.Name, c.Netns)
			if !r.fix {
				continue
			}
			if err := in.ownNetnsPath(c.Netns); err != nil {
				return fmt.Errorf("container %s: %w", c.Name, err)
			}
			if err := in.machine.DeleteNetns(c.Netns); err != nil {
				return fmt.Errorf("remove stale namespace file %s: %w", c.Netns, err)
			}
			if err := in.step("kernel: create namespace " + c.Netns); err != nil {
				return err
			}
			if err := in.machine.CreateNetns(c.Netns); err != nil {
				return err
			}
			rebuildAll = true
		}
		publishes, err := in.store.HasPorts(c.ID)
		if err != nil {
			return err
		}
		for _, ep := range c.Endpoints {
			n := in.state.Networks[ep.NetworkID]
			d, err := in.driverOf(n)
			if err != nil {
				return err
			}
			if !rebuildAll {
				why, err := d.CheckEndpoint(in.env(), ep, entries, publishing[ep.Slot] == publishes)
				if err != nil {
					return err
				}
				if why == "" {
					continue
				}
				r.report("container %s: endpoint on %s: %s", c.Name, n.Name, why)
			}
			if !r.fix {
				continue
			}
			if err := d.Leave(in.env(), c, n, ep); err != nil {
				return err
			}
			if err := d.Join(in.env(), c, n, ep, publishes); err != nil {
				return err
			}
		}
	}
	return nil
}
