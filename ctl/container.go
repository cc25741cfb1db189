package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/store"
)

// ContainerSpec is what `container create` asks for.
type ContainerSpec struct {
	Name        string
	Network     string // "" means the default bridge
	IP          string
	Aliases     []string
	Netns       string   // adopt this namespace instead of creating one
	Publish     []string // -p specs
	PublishAll  bool     // -P: publish every exposed port on an ephemeral host port
	Expose      []string // --expose: ports -P publishes
	Volumes     []string // -v: VOLUME_OR_HOST_PATH:DEST[:ro], or DEST for an anonymous volume
	VolumesFrom []string // --volumes-from: CONTAINER[:ro|rw]

	hostBinding netip.Addr // the network's address for -p without one
}

// Docker's rule for container names; bpfnet also uses the name as the
// namespace's file name, so it must not hold a slash.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Containers returns every container, sorted by name.
func (in *Instance) Containers() ([]*Container, error) {
	all, err := in.allContainers()
	if err != nil {
		return nil, err
	}
	out := make([]*Container, 0, len(all))
	for _, c := range all {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Container finds a container by name, ID or unique ID prefix, reading
// only its record.
func (in *Instance) Container(ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	id, ok, err := in.store.ContainerID(ref)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, in.missing(ref)
	}
	c, err := in.containerByID(id)
	if errors.Is(err, ErrNotFound) {
		return nil, in.damaged(fmt.Errorf("the name index gives container %q for %q, which has no record", id, ref))
	}
	return c, err
}

// missing tells an unknown container from one the store's index lost:
// a miss (rare: a typo) pays a scan of every record to tell them apart.
func (in *Instance) missing(ref string) error {
	all, err := in.allContainers()
	if err != nil {
		return err
	}
	var byPrefix []*Container
	for _, c := range all {
		if c.Name == ref || c.ID == ref {
			return in.damaged(fmt.Errorf("its index lacks container %q, which it holds", ref))
		}
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	if len(byPrefix) == 1 {
		return in.damaged(fmt.Errorf("its index lacks container %q, which it holds", ref))
	}
	return notFound("No such container: " + ref)
}

// containerByID reads container id once per command.
func (in *Instance) containerByID(id string) (*Container, error) {
	if c, ok := in.state.Containers[id]; ok {
		return c, nil
	}
	c, err := in.store.Container(id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notFound("No such container: " + id)
	}
	if err := in.checkReferences(c); err != nil {
		return nil, err
	}
	in.state.Containers[id] = c
	return c, nil
}

// checkReferences refuses a container whose endpoints name networks the
// store does not hold: every step after this one may rely on them.
func (in *Instance) checkReferences(c *Container) error {
	for _, ep := range c.Endpoints {
		if in.state.Networks[ep.NetworkID] == nil {
			return in.damaged(fmt.Errorf("container %q has an endpoint on network %q, which has no record", c.Name, ep.NetworkID))
		}
	}
	return nil
}

// CreateContainer makes a container and connects it to its network.
func (in *Instance) CreateContainer(spec ContainerSpec) (*Container, error) {
	if !validName.MatchString(spec.Name) {
		return nil, fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", spec.Name)
	}
	id, taken, err := in.store.ContainerID(spec.Name)
	if err != nil {
		return nil, err
	}
	if taken {
		other, err := in.containerByID(id)
		if err != nil {
			return nil, err
		}
		if other.Name == spec.Name {
			return nil, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", spec.Name, other.ID)
		}
	}
	c := &Container{ID: newID(), Name: spec.Name, Created: time.Now().UTC()}
	exposed, err := ports.ParseAll(spec.Expose)
	if err != nil {
		return nil, fmt.Errorf("invalid --expose: %w", err)
	}
	for _, m := range exposed {
		if !slices.Contains(c.Exposed, m.ContainerKey()) {
			c.Exposed = append(c.Exposed, m.ContainerKey())
		}
	}
	if c.Mounts, err = in.containerMounts(spec.Volumes, spec.VolumesFrom); err != nil {
		return nil, err
	}
	if ref, ok := strings.CutPrefix(spec.Network, sharedNetworkPrefix); ok {
		return in.createSharing(c, spec, ref)
	}
	netRef := spec.Network
	if netRef == "" {
		netRef = NetworkBridge
	}
	n, err := in.Network(netRef)
	if err != nil {
		return nil, err
	}
	d, err := in.driverOf(n)
	if err != nil {
		return nil, err
	}
	publishing := len(spec.Publish) > 0 || spec.PublishAll
	switch d.Sandbox() {
	case driver.SandboxHost:
		if publishing {
			return nil, fmt.Errorf("conflicting options: published ports are discarded when using host network mode; the host's own ports are the container's")
		}
		if spec.Netns != "" || spec.IP != "" || len(spec.Aliases) > 0 {
			return nil, fmt.Errorf("conflicting options: --netns, --ip and --alias cannot be used with the host network")
		}
		c.Mode = n.Name
		return c, in.commit(store.Change{PutContainers: []*Container{c}})
	case driver.SandboxIsolated:
		if publishing {
			return nil, fmt.Errorf("conflicting options: port publishing and the none network mode")
		}
		if spec.IP != "" || len(spec.Aliases) > 0 {
			return nil, fmt.Errorf("conflicting options: --ip and --alias cannot be used with the none network")
		}
		c.Mode = n.Name
	}
	spec.hostBinding = n.Settings.HostBindingIPv4
	published, err := in.portMappings(spec)
	if err != nil {
		return nil, err
	}
	if err := in.create(c, n, spec, published); err != nil {
		return nil, err
	}
	return c, nil
}

// create builds c in the kernel and commits it; on error, nothing of it
// stays in the kernel and the store does not hold it.
func (in *Instance) create(c *Container, n *Network, spec ContainerSpec, published []ports.Mapping) (err error) {
	intent := Intent{Op: "container create " + c.Name}
	if spec.Netns == "" {
		path := filepath.Join(in.opts.NetnsDir, c.Name)
		if in.machine.NetnsAt(path) != NoFile {
			return fmt.Errorf("create network namespace %s: %w", path, os.ErrExist)
		}
		intent.Netns = []string{path}
	}
	var ep *Endpoint
	if d, err := in.driverOf(n); err != nil {
		return err
	} else if d.Sandbox() == driver.SandboxEndpoints {
		if ep, err = in.planEndpoint(c, n, spec.IP, spec.Aliases); err != nil {
			return err
		}
		intent.Veths = []string{in.hostDevice(ep)}
	}
	if err := in.begin(intent); err != nil {
		return err
	}
	var undo undoStack
	defer func() {
		if err != nil {
			undo.run()
			in.end()
		}
	}()
	if err := in.giveNetns(c, spec.Netns, &undo); err != nil {
		return err
	}
	if ep != nil {
		if err := in.connectPlanned(c, n, ep); err != nil {
			return err
		}
		undo.push(func() error { return in.leave(c, n, ep) })
		if err := in.publishPorts(c, published); err != nil {
			return err
		}
		undo.push(func() error { return in.dropPortEntries(c, published) })
	}
	ch := store.Change{PutContainers: []*Container{c}}
	if len(published) > 0 {
		ch.AddPorts = map[string][]ports.Mapping{c.ID: published}
	}
	return in.commit(ch)
}

// giveNetns creates c's named namespace or adopts the one at adopt.
func (in *Instance) giveNetns(c *Container, adopt string, undo *undoStack) error {
	if adopt != "" {
		if !in.isNetns(adopt) {
			return fmt.Errorf("invalid --netns %s: not a network namespace", adopt)
		}
		if err := in.checkAdoptNetns(adopt); err != nil {
			return err
		}
		all, err := in.allContainers()
		if err != nil {
			return err
		}
		for _, other := range all {
			if other.Netns != "" && in.machine.SameNetns(other.Netns, adopt) {
				return fmt.Errorf("invalid --netns %s: it is already the namespace of container %s", adopt, other.Name)
			}
		}
		c.Netns, c.Adopted = adopt, true
		return nil
	}
	if err := in.step("kernel: create namespace " + c.Name); err != nil {
		return err
	}
	path := filepath.Join(in.opts.NetnsDir, c.Name)
	if err := in.machine.CreateNetns(path); err != nil {
		return err
	}
	c.Netns = path
	undo.push(func() error { return in.machine.DeleteNetns(path) })
	return nil
}

// RemoveContainer disconnects c from every network and deletes the
// namespace bpfnet made for it. Interrupted, it is rolled back: the store
// still holds c, and repair rebuilds what was removed.
func (in *Instance) RemoveContainer(ref string) error {
	c, err := in.Container(ref)
	if err != nil {
		return err
	}
	if err := in.refuseSharedRemoval(c); err != nil {
		return err
	}
	owner, err := in.leaveSharing(c)
	if err != nil {
		return err
	}
	if c.Netns != "" && !c.Adopted {
		if err := in.ownNetnsPath(c.Netns); err != nil {
			return fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	}
	published, err := in.store.Ports(c.ID)
	if err != nil {
		return err
	}
	// On failure the intent stays: the next command rebuilds what went.
	if err := in.begin(Intent{Op: "container rm " + c.Name}); err != nil {
		return err
	}
	if err := in.step("kernel: unpublish ports of " + c.Name); err != nil {
		return err
	}
	if err := in.dropPortEntries(c, published); err != nil {
		return fmt.Errorf("remove container %s: %w", c.Name, err)
	}
	for _, ep := range c.Endpoints {
		n := in.state.Networks[ep.NetworkID]
		if err := in.leave(c, n, ep); err != nil {
			return fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	}
	if c.Netns != "" && !c.Adopted {
		if err := in.step("kernel: delete namespace " + c.Netns); err != nil {
			return err
		}
		if err := in.machine.DeleteNetns(c.Netns); err != nil {
			return fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	}
	change := store.Change{DeleteContainers: []string{c.ID}}
	if owner != nil {
		change.PutContainers = []*Container{owner}
	}
	return in.commit(change)
}

// Connect attaches a container to one more bridge network.
func (in *Instance) Connect(netRef, ctrRef, ip string, aliases []string) (err error) {
	n, err := in.Network(netRef)
	if err != nil {
		return err
	}
	c, err := in.Container(ctrRef)
	if err != nil {
		return err
	}
	d, err := in.driverOf(n)
	if err != nil {
		return err
	}
	switch {
	case c.SharesWith != "":
		return errSharedNetwork
	case d.Sandbox() == driver.SandboxHost || c.Mode == NetworkHost:
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network")
	case d.Sandbox() == driver.SandboxIsolated || c.Mode == NetworkNone:
		return fmt.Errorf("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	case c.Endpoint(n.ID) != nil:
		return fmt.Errorf("endpoint with name %s already exists in network %s", c.Name, n.Name)
	}
	ep, err := in.planEndpoint(c, n, ip, aliases)
	if err != nil {
		return err
	}
	if err := in.begin(Intent{Op: "network connect " + n.Name + " " + c.Name, Veths: []string{in.hostDevice(ep)}}); err != nil {
		return err
	}
	defer in.end()
	before := portTarget(c)
	if err := in.connectPlanned(c, n, ep); err != nil {
		return err
	}
	err = in.retargetPorts(c, before)
	if err == nil {
		err = in.commit(store.Change{PutContainers: []*Container{c}})
	}
	if err != nil {
		_ = in.leave(c, n, ep)
		c.Endpoints = c.Endpoints[:len(c.Endpoints)-1]
		_ = in.retargetPorts(c, ep.IP)
		return err
	}
	return nil
}

// Disconnect detaches a container from a network. Interrupted, it is
// rolled back: the store still holds the endpoint, and repair rebuilds it.
func (in *Instance) Disconnect(netRef, ctrRef string) error {
	n, err := in.Network(netRef)
	if err != nil {
		return err
	}
	c, err := in.Container(ctrRef)
	if err != nil {
		return err
	}
	d, err := in.driverOf(n)
	if err != nil {
		return err
	}
	if c.SharesWith != "" {
		return errSharedNetwork
	}
	if d.Sandbox() == driver.SandboxHost || c.Mode == NetworkHost {
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network")
	}
	ep := c.Endpoint(n.ID)
	if ep == nil {
		return fmt.Errorf("container %s is not connected to network %s", c.Name, n.Name)
	}
	// On failure the intent stays: the next command rebuilds what went.
	if err := in.begin(Intent{Op: "network disconnect " + n.Name + " " + c.Name}); err != nil {
		return err
	}
	if err := in.leave(c, n, ep); err != nil {
		return err
	}
	// A container that lost its default route gets one through another of
	// its networks.
	if in.isNetns(c.Netns) {
		if err := in.machine.RestoreDefaultRoute(c.Netns, in.defaultRoutes(c, ep)); err != nil {
			return err
		}
	}
	before := portTarget(c)
	kept := []*Endpoint{}
	for _, e := range c.Endpoints {
		if e != ep {
			kept = append(kept, e)
		}
	}
	was := c.Endpoints
	c.Endpoints = kept
	if err := in.retargetPorts(c, before); err != nil {
		c.Endpoints = was
		return err
	}
	if err := in.commit(store.Change{PutContainers: []*Container{c}}); err != nil {
		c.Endpoints = was
		return err
	}
	return nil
}

// planEndpoint allocates an endpoint of c on n: address, slot and ID;
// nothing is built or stored yet.
func (in *Instance) planEndpoint(c *Container, n *Network, ipText string, aliases []string) (*Endpoint, error) {
	var requested netip.Addr
	if ipText != "" {
		if !n.UserSubnet {
			return nil, fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets")
		}
		var err error
		if requested, err = netip.ParseAddr(ipText); err != nil || !requested.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s", ipText)
		}
	}
	used, err := in.store.UsedIPs(n.ID)
	if err != nil {
		return nil, err
	}
	ip, err := n.IPAM.Allocate(requested, ipam.Used(used))
	if err != nil {
		return nil, err
	}
	slot, err := in.freeSlot()
	if err != nil {
		return nil, err
	}
	// Host-side device names are short (Docker's "veth" and 7 hex digits of
	// the ID): among thousands of endpoints two IDs can share them, so an
	// ID whose device name the host already has is drawn again.
	for try := 0; try < 16; try++ {
		ep := &Endpoint{ID: newID(), NetworkID: n.ID, IP: ip, Aliases: aliases, StaticIP: requested.IsValid(), Slot: slot}
		taken, err := in.machine.LinkExists(in.hostDevice(ep))
		if err != nil {
			return nil, err
		}
		if !taken {
			return ep, nil
		}
	}
	return nil, fmt.Errorf("no free host device name for an endpoint of container %s", c.Name)
}

// connectPlanned builds ep, planned for c on n, in the kernel and appends
// it to c. Nothing is stored yet.
func (in *Instance) connectPlanned(c *Container, n *Network, ep *Endpoint) error {
	if err := in.join(c, n, ep); err != nil {
		return err
	}
	c.Endpoints = append(c.Endpoints, ep)
	return nil
}

// freeSlot is the lowest counters row no endpoint holds.
func (in *Instance) freeSlot() (uint32, error) {
	slot, ok, err := in.store.FreeSlot(loader.FirstEndpointSlot, in.dp.MaxEndpoints())
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no endpoint slot left: the datapath holds %d endpoints", in.dp.MaxEndpoints()-1)
	}
	return slot, nil
}

// undoStack collects the inverse of each step done so far.
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

// run undoes in reverse order; undo is best effort, the first error is
// what the caller reports.
func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		_ = u[i]()
	}
}

// ExecTarget is what `bpfnet exec` enters for the container ref: the
// path of its namespace ("" when it is the caller's own: host mode of an
// instance without --host-netns) and the mounts its commands see.
func (in *Instance) ExecTarget(ref string) (netns string, mounts []BindMount, err error) {
	c, err := in.Container(ref)
	if err != nil {
		return "", nil, err
	}
	if mounts, err = in.execMounts(c); err != nil {
		return "", nil, err
	}
	if owner, err := in.sharingOwner(c); err != nil {
		return "", nil, err
	} else if owner != nil {
		c = owner
	}
	if c.Mode == NetworkHost {
		return in.opts.HostNetns, mounts, nil
	}
	return c.Netns, mounts, nil
}
