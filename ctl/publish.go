package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/store"
)

// portMappings parses -p specs, and for -P every --expose'd port, and
// chooses host ports against the store's index of published ports and the
// host's sockets.
func (in *Instance) portMappings(spec ContainerSpec) ([]ports.Mapping, error) {
	wanted, err := ports.ParseAll(spec.Publish)
	if err != nil {
		return nil, err
	}
	if spec.PublishAll {
		exposed, err := ports.ParseAll(spec.Expose)
		if err != nil {
			return nil, fmt.Errorf("invalid --expose: %w", err)
		}
		for _, m := range exposed {
			m.HostIP, m.HostPort, m.HostPortEnd = netip.Addr{}, 0, 0
			wanted = append(wanted, m)
		}
	}
	if len(wanted) == 0 {
		return nil, nil
	}
	for i, m := range wanted {
		if !m.HostIP.IsValid() {
			wanted[i].HostIP, m.HostIP = spec.hostBinding, spec.hostBinding
		}
		if err := in.checkHostAddr(m); err != nil {
			return nil, err
		}
	}
	alloc := ports.Allocator{HostBusy: in.machine.PortBusy}
	// The range is read from the host's /proc/sys, only when a mapping
	// leaves its host port to be chosen.
	if slices.ContainsFunc(wanted, func(m ports.Mapping) bool { return m.HostPort == 0 }) {
		if alloc.Ephemeral, err = in.machine.Ephemeral(); err != nil {
			return nil, err
		}
	}
	var assigned []ports.Mapping
	err = in.store.WithPortIndex(func(held ports.Held) (err error) {
		alloc.Existing = held
		assigned, err = alloc.Assign(wanted)
		return err
	})
	return assigned, err
}

// Ports returns the published ports of c.
func (in *Instance) Ports(c *Container) ([]ports.Mapping, error) { return in.store.Ports(c.ID) }

// checkHostAddr refuses a mapping on an address the host does not have,
// with the words Docker's proxy would fail with.
func (in *Instance) checkHostAddr(m ports.Mapping) error {
	if !m.HostIP.IsValid() || m.HostIP.IsUnspecified() {
		return nil
	}
	if !in.machine.HasAddr(m.HostIP) {
		return fmt.Errorf("Error starting userland proxy: listen tcp4 %s: bind: cannot assign requested address", netip.AddrPortFrom(m.HostIP, m.HostPort))
	}
	return nil
}

func datapathPort(m ports.Mapping, target netip.Addr) loader.Port {
	return loader.Port{HostIP: m.HostIP, HostPort: m.HostPort, Proto: m.Proto.Number(), ContainerIP: target, ContainerPort: m.ContainerPort}
}

// portTarget is the address c's ports lead to: its first network's, as in
// Docker.
func portTarget(c *Container) netip.Addr {
	if len(c.Endpoints) == 0 {
		return netip.Addr{}
	}
	return c.Endpoints[0].IP
}

// publishPorts installs ms, mappings of c, and has c's endpoints translate
// the replies of published ports; on error none of it stays.
func (in *Instance) publishPorts(c *Container, ms []ports.Mapping) (err error) {
	if len(ms) == 0 {
		return nil
	}
	for i, m := range ms {
		if err := in.step("kernel: publish " + m.String()); err != nil {
			_ = in.unpublishMappings(c, ms[:i])
			return err
		}
		if err := in.dp.PublishPort(datapathPort(m, portTarget(c))); err != nil {
			_ = in.unpublishMappings(c, ms[:i])
			return fmt.Errorf("publish %s of container %s: %w", m, c.Name, err)
		}
	}
	if err := in.setPublishesPorts(c, true); err != nil {
		_ = in.unpublishMappings(c, ms)
		return err
	}
	return nil
}

// setPublishesPorts tells the programs of c's endpoints whether replies
// may need reverse NAT: a map update, no reload.
func (in *Instance) setPublishesPorts(c *Container, on bool) error {
	if err := in.step(fmt.Sprintf("kernel: endpoints of %s publish ports: %v", c.Name, on)); err != nil {
		return err
	}
	for _, ep := range c.Endpoints {
		if err := in.dp.SetPublishesPorts(ep.Slot, on); err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	return nil
}

// dropPortEntries removes ms, all of c's mappings, from the datapath; the
// flows through them go with c's endpoints (leave).
func (in *Instance) dropPortEntries(c *Container, ms []ports.Mapping) error {
	var errs []error
	for _, m := range ms {
		errs = append(errs, in.dp.UnpublishPort(datapathPort(m, portTarget(c))))
	}
	return errors.Join(errs...)
}

// retargetPorts points c's published ports at its first endpoint, where
// Docker's lead, once c's endpoints changed and before was the target; with
// no endpoint left they lead nowhere until c connects again.
func (in *Instance) retargetPorts(c *Container, before netip.Addr) error {
	if portTarget(c) == before {
		return nil
	}
	ms, err := in.store.Ports(c.ID)
	if err != nil || len(ms) == 0 {
		return err
	}
	if len(c.Endpoints) == 0 {
		return in.dropPortEntries(c, ms)
	}
	return in.publishPorts(c, ms)
}

// Publish adds published ports to an existing container, which Docker
// cannot do: a few index keys and one map update per port, whatever the
// number of ports the instance has.
func (in *Instance) Publish(ref string, specs []string) ([]ports.Mapping, error) {
	c, err := in.Container(ref)
	if err != nil {
		return nil, err
	}
	if len(c.Endpoints) == 0 {
		return nil, fmt.Errorf("container %s has no bridge network to publish ports of", c.Name)
	}
	had, err := in.store.HasPorts(c.ID)
	if err != nil {
		return nil, err
	}
	added, err := in.portMappings(ContainerSpec{Publish: specs,
		hostBinding: in.state.Networks[c.Endpoints[0].NetworkID].Settings.HostBindingIPv4})
	if err != nil {
		return nil, err
	}
	if err := in.begin(Intent{Op: "container publish " + c.Name}); err != nil {
		return nil, err
	}
	defer in.end()
	err = in.publishPorts(c, added)
	if err == nil {
		err = in.commit(store.Change{AddPorts: map[string][]ports.Mapping{c.ID: added}})
	}
	if err != nil {
		_ = in.unpublishMappings(c, added)
		_ = in.setPublishesPorts(c, had)
		return nil, err
	}
	return added, nil
}

// Unpublish removes the published ports of c that specs name.
func (in *Instance) Unpublish(ref string, specs []string) error {
	c, err := in.Container(ref)
	if err != nil {
		return err
	}
	gone, err := ports.ParseAll(specs)
	if err != nil {
		return err
	}
	current, err := in.store.Ports(c.ID)
	if err != nil {
		return err
	}
	var kept, removed []ports.Mapping
	for _, m := range current {
		if matchesAny(m, gone) {
			removed = append(removed, m)
		} else {
			kept = append(kept, m)
		}
	}
	if len(removed) == 0 {
		return fmt.Errorf("container %s publishes none of %v", c.Name, specs)
	}
	// On failure the intent stays: the next command republishes what went.
	if err := in.begin(Intent{Op: "container unpublish " + c.Name}); err != nil {
		return err
	}
	if err := in.step("kernel: unpublish ports of " + c.Name); err != nil {
		return err
	}
	if err := in.unpublishMappings(c, removed); err != nil {
		return err
	}
	if len(kept) == 0 {
		if err := in.setPublishesPorts(c, false); err != nil {
			return err
		}
	}
	if err := in.commit(store.Change{RemovePorts: map[string][]ports.Mapping{c.ID: removed}}); err != nil {
		_ = in.publishPorts(c, removed) // the store still has them
		return err
	}
	return nil
}

// matchesAny: a spec names a mapping by its container port and protocol,
// and by its host address and port when the spec gives them.
func matchesAny(m ports.Mapping, specs []ports.Mapping) bool {
	for _, s := range specs {
		if s.ContainerPort == m.ContainerPort && s.Proto == m.Proto &&
			(s.HostPort == 0 || s.HostPort == m.HostPort) && (!s.HostIP.IsValid() || s.HostIP == m.HostIP) {
			return true
		}
	}
	return false
}

// unpublishMappings removes ms of c and the flows through them.
func (in *Instance) unpublishMappings(c *Container, ms []ports.Mapping) error {
	if len(ms) == 0 {
		return nil
	}
	var errs []error
	gone := make([]loader.Port, 0, len(ms))
	for _, m := range ms {
		p := datapathPort(m, portTarget(c))
		errs = append(errs, in.dp.UnpublishPort(p))
		gone = append(gone, p)
	}
	_, err := in.dp.FlushConntrackPorts(gone)
	return errors.Join(append(errs, err)...)
}
