package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/kernel"
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
	found, err := in.reconcile(true)
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
			heldVeths[hostIfname(ep)] = true
		}
	}
	for _, path := range it.Netns {
		if heldNetns[path] || in.ownNetnsPath(path) != nil {
			continue
		}
		if kernel.IsNetns(path) || isEmptyFile(path) {
			if err := kernel.DeleteNetns(path); err != nil {
				return fmt.Errorf("roll back %s: %w", it.Op, err)
			}
			in.rolledBack = append(in.rolledBack, "removed namespace "+path+" of the interrupted command")
		}
	}
	err = in.inHost(func() error {
		for _, name := range it.Veths {
			if heldVeths[name] || !strings.HasPrefix(name, "veth") {
				continue
			}
			if l, err := netlink.LinkByName(name); err == nil {
				if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
					return fmt.Errorf("roll back %s: delete veth %s: %w", it.Op, name, err)
				}
				in.rolledBack = append(in.rolledBack, "removed veth "+name+" of the interrupted command")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	found, err := in.reconcile(true)
	if err != nil {
		return fmt.Errorf("roll back %s: %w", it.Op, err)
	}
	in.rolledBack = append(in.rolledBack, found...)
	in.end()
	return nil
}

func isEmptyFile(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() == 0
}

// reconciler walks store and kernel, reporting each difference and, with
// fix, mending it.
type reconciler struct {
	in       *Instance
	dp       *loader.Datapath
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
			r.veths[hostIfname(ep)], r.slots[ep.Slot], r.ips[ep.IP] = true, ep, ep
		}
	}
	for _, step := range []func() error{r.gateways, r.containers, r.ports, r.orphanVeths, r.orphanEntries, r.orphanNetns, r.staleFlows} {
		if err := step(); err != nil {
			return r.problems, err
		}
	}
	return r.problems, nil
}

// gateways: the gateway device holds exactly the bridge networks' gateways.
func (r *reconciler) gateways() error {
	want := map[netip.Prefix]*Network{}
	for _, n := range r.in.Networks() {
		if n.Driver == DriverBridge {
			want[netip.PrefixFrom(n.IPAM.Gateway, n.IPAM.Subnet.Bits())] = n
		}
	}
	return r.in.inHost(func() error {
		have := map[netip.Prefix]bool{}
		if dev, err := netlink.LinkByName(gatewayDevice); err == nil {
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
				r.report("the gateway device holds %v, which no network has", p)
				if r.fix {
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
			r.report("network %s: the host lacks gateway address %v", n.Name, n.IPAM.Gateway)
			if r.fix {
				if err := r.in.step("kernel: add gateway of " + n.Name); err != nil {
					return err
				}
				if err := addGateway(n); err != nil {
					return err
				}
			}
		}
		return nil
	})
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
		if c.Mode == NetworkHost {
			continue
		}
		rebuildAll := r.dp.Fresh()
		if !kernel.IsNetns(c.Netns) {
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
			if err := os.Remove(c.Netns); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove stale namespace file %s: %w", c.Netns, err)
			}
			if err := in.step("kernel: create namespace " + c.Netns); err != nil {
				return err
			}
			if _, err := createNamedNetns(filepath.Dir(c.Netns), filepath.Base(c.Netns), setupContainerNetns); err != nil {
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
			if !rebuildAll {
				why, err := r.endpointProblem(ep, entries, publishing[ep.Slot] != publishes)
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
			if err := in.disconnectKernel(c, n, ep); err != nil {
				return err
			}
			if err := in.connectKernel(c, n, ep); err != nil {
				return err
			}
		}
	}
	return nil
}

// endpointProblem says what is wrong with ep in the kernel, or "".
func (r *reconciler) endpointProblem(ep *Endpoint, entries map[netip.Addr]loader.EndpointEntry, wrongState bool) (string, error) {
	name := hostIfname(ep)
	var why string
	err := r.in.inHost(func() error {
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
		case wrongState:
			why = fmt.Sprintf("the datapath's state of slot %d is wrong about published ports", ep.Slot)
		default:
			attached, err := r.dp.EndpointAttached(ifindex, ep.Slot)
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
