package ctl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
)

// Kernel objects an instance makes are marked or kept where only it
// writes, so a scan of the kernel finds those the store does not explain:
// host-side veths carry an alias naming the instance, map entries and
// pins live in the instance's bpffs, and gateways on its device.

// aliasPrefix marks the host-side veths of this instance: "bpfnet:" and a
// digest of the root directory, which no two instances share.
func (in *Instance) aliasPrefix() string {
	sum := sha256.Sum256([]byte(in.opts.Root))
	return "bpfnet:" + hex.EncodeToString(sum[:6]) + ":"
}

func (in *Instance) vethAlias(ep *Endpoint) string { return in.aliasPrefix() + ep.ID[:12] }

func portID(p loader.Port) string {
	proto := map[uint8]string{ports.TCP.Number(): "tcp", ports.UDP.Number(): "udp"}[p.Proto]
	return fmt.Sprintf("%v:%d/%s", ports.BindAddr(p.HostIP), p.HostPort, proto)
}

// ports: the datapath publishes exactly the store's ports, each leading to
// its container's first endpoint.
func (r *reconciler) ports() error {
	want := map[string]loader.Port{}
	owner := map[string]*Container{}
	for _, c := range r.in.state.Containers { // every one: reconcile read them all
		if len(c.Endpoints) == 0 {
			continue
		}
		ms, err := r.in.store.Ports(c.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			p := datapathPort(m, portTarget(c))
			want[portID(p)], owner[portID(p)] = p, c
		}
	}
	have, err := r.dp.PortEntries()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var stray []loader.Port
	for _, p := range have {
		id := portID(p)
		seen[id] = true
		w, ok := want[id]
		switch {
		case !ok:
			r.report("published port %s leads to %v:%d, but no container publishes it", id, p.ContainerIP, p.ContainerPort)
			stray = append(stray, p)
		case w.ContainerIP != p.ContainerIP || w.ContainerPort != p.ContainerPort:
			r.report("published port %s of container %s leads to %v:%d, not %v:%d", id, owner[id].Name, p.ContainerIP, p.ContainerPort, w.ContainerIP, w.ContainerPort)
			if r.fix {
				if err := r.dp.PublishPort(w); err != nil {
					return err
				}
			}
		}
	}
	for id, w := range want {
		if seen[id] {
			continue
		}
		r.report("published port %s of container %s is missing from the datapath", id, owner[id].Name)
		if r.fix {
			if err := r.in.step("kernel: publish " + id); err != nil {
				return err
			}
			if err := r.dp.PublishPort(w); err != nil {
				return err
			}
		}
	}
	if !r.fix || len(stray) == 0 {
		return nil
	}
	for _, p := range stray {
		if err := r.dp.UnpublishPort(p); err != nil {
			return err
		}
	}
	_, err = r.dp.FlushConntrackPorts(stray)
	return err
}

// orphanVeths: no host-side veth of this instance's lacks an endpoint.
func (r *reconciler) orphanVeths() error {
	names, err := r.in.machine.MarkedLinks(r.in.aliasPrefix())
	if err != nil {
		return fmt.Errorf("list host devices: %w", err)
	}
	for _, name := range names {
		if r.veths[name] {
			continue
		}
		r.report("veth %s belongs to no endpoint", name)
		if r.fix {
			if _, err := r.in.machine.DeleteLink(name); err != nil {
				return fmt.Errorf("delete orphan veth %s: %w", name, err)
			}
		}
	}
	return nil
}

// orphanEntries: the datapath's per-endpoint entries, pins and state all
// belong to endpoints of the store.
func (r *reconciler) orphanEntries() error {
	entries, err := r.dp.EndpointEntries()
	if err != nil {
		return err
	}
	for ip, e := range entries {
		if r.ips[ip] != nil {
			continue
		}
		r.report("the datapath forwards %v to ifindex %d, but no endpoint has that address", ip, e.Ifindex)
		if !r.fix {
			continue
		}
		if err := r.dp.DeleteEndpointEntry(ip); err != nil {
			return err
		}
		if r.slots[e.Slot] == nil {
			if err := r.dp.ForgetSlot(e.Slot); err != nil {
				return err
			}
		}
	}
	pinned, err := r.dp.EndpointLinkSlots()
	if err != nil {
		return err
	}
	publishing, err := r.dp.PublishingSlots()
	if err != nil {
		return err
	}
	for slot := range publishing {
		pinned[slot] = true
	}
	for slot := range pinned {
		if r.slots[slot] != nil {
			continue
		}
		r.report("endpoint slot %d has links or state in the datapath but no endpoint", slot)
		if r.fix {
			if err := r.dp.ForgetSlot(slot); err != nil {
				return err
			}
		}
	}
	return nil
}

// orphanNetns: in a namespace directory of the instance's own, every file
// is a container's. (/run/netns is everyone's: the journal covers it.)
func (r *reconciler) orphanNetns() error {
	dir := r.in.opts.NetnsDir
	if !strings.HasPrefix(dir, r.in.opts.Root+string(filepath.Separator)) {
		return nil
	}
	held := map[string]bool{}
	for _, c := range r.in.state.Containers { // every one: reconcile read them all
		held[c.Netns] = true
	}
	files, err := r.in.machine.NetnsFiles(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(dir, f)
		if held[path] {
			continue
		}
		r.report("namespace file %s belongs to no container", path)
		if r.fix {
			if err := r.in.machine.DeleteNetns(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// staleFlows: no tracked flow names an address of a network that no
// endpoint holds (it would send a later flow to whoever gets it next).
func (r *reconciler) staleFlows() error {
	var subnets []netip.Prefix
	gateways := map[netip.Addr]bool{}
	for _, n := range r.in.state.Networks {
		if n.IPAM.Subnet.IsValid() {
			subnets = append(subnets, n.IPAM.Subnet)
			gateways[n.IPAM.Gateway] = true
		}
	}
	stale := func(a netip.Addr) bool {
		if r.ips[a] != nil || gateways[a] {
			return false
		}
		for _, s := range subnets {
			if s.Contains(a) {
				return true
			}
		}
		return false
	}
	n, err := r.dp.CountConntrackMatching(stale)
	if err != nil || n == 0 {
		return err
	}
	r.report("%d tracked flows name addresses that no endpoint holds", n)
	if r.fix {
		_, err = r.dp.FlushConntrackMatching(stale)
	}
	return err
}
