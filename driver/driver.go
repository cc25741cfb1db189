// Package driver is the seam between the control plane and the kinds of
// network it can make. A driver says where its containers live and builds
// its networks' and endpoints' kernel state; the control plane plans,
// records and checks. It maps onto Docker's libnetwork driverapi
// (CreateNetwork, DeleteNetwork, CreateEndpoint+Join, Leave+DeleteEndpoint),
// so a Docker network plugin is an adapter, not a second control plane.
// The control plane never compares driver names: it asks the registry.
package driver

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// Sandbox says where the containers of a driver's networks live.
type Sandbox int

const (
	// SandboxEndpoints: a namespace of the container's own, with one
	// endpoint per network of the driver (bridge, overlay).
	SandboxEndpoints Sandbox = iota
	// SandboxIsolated: a namespace of the container's own with only lo (null).
	SandboxIsolated
	// SandboxHost: the instance's host namespace itself (host).
	SandboxHost
)

// Env is what the control plane lends a driver for one command.
type Env interface {
	// InHost runs fn on a thread in the instance's host namespace.
	InHost(fn func() error) error
	// Datapath is the instance's datapath.
	Datapath() Datapath
	// Step is a point where the crash tests' fault hook may end the command.
	Step(what string) error
	// VethAlias is the mark the instance puts on the host side of ep's veth.
	VethAlias(ep *model.Endpoint) string
}

// Datapath is what a driver asks of the eBPF datapath: its endpoints'
// programs and flows. *loader.Datapath is the real one.
type Datapath interface {
	AttachEndpoint(ep loader.Endpoint) error
	ReloadEndpoint(ep loader.Endpoint) error
	DetachEndpoint(ep loader.Endpoint) error
	// EndpointAttached tells whether slot's programs are on ifindex.
	EndpointAttached(ifindex int, slot uint32) (bool, error)
	// FlushConntrack deletes the flows of ips (every flow when none).
	FlushConntrack(ips ...netip.Addr) (int, error)
}

var _ Datapath = (*loader.Datapath)(nil)

// Driver is one kind of network.
type Driver interface {
	// Name is the driver's name, as `network create --driver` takes it.
	Name() string
	// Sandbox says where containers on the driver's networks live.
	Sandbox() Sandbox
	// Settings resolves a network's --opt values; unknown keys and bad
	// values are errors.
	Settings(opts map[string]string) (model.Settings, error)
	// CreateNetwork gives the host what n needs (a gateway); DeleteNetwork
	// takes it back. Both are idempotent.
	CreateNetwork(env Env, n *model.Network) error
	DeleteNetwork(env Env, n *model.Network) error
	// Join builds ep, c's endpoint on n, in the kernel; publishes: c has
	// published ports. On error nothing of it stays.
	Join(env Env, c *model.Container, n *model.Network, ep *model.Endpoint, publishes bool) error
	// Leave undoes Join; pieces already gone are fine.
	Leave(env Env, c *model.Container, n *model.Network, ep *model.Endpoint) error
	// HostDevice names the host-side device of ep ("" if it has none),
	// for the journal and the orphan scan.
	HostDevice(ep *model.Endpoint) string
	// Reload replaces ep's programs with this build's, in place.
	Reload(env Env, n *model.Network, ep *model.Endpoint, publishes bool) error
	// CheckEndpoint says what is wrong with ep in the kernel ("" when
	// nothing is), given the datapath's forwarding entries and whether the
	// datapath's state of ep says it publishes ports as it should.
	CheckEndpoint(env Env, ep *model.Endpoint, entries map[netip.Addr]loader.EndpointEntry, stateRight bool) (string, error)
}

// HostState is a driver that keeps host-wide state for its networks (the
// bridge's gateway device).
type HostState interface {
	// Devices names the host-wide devices the driver keeps: they are
	// neither uplinks nor host addresses of the host's own.
	Devices() []string
	// Sweep compares the host-wide state with nets, the driver's networks
	// in the store, both ways, mending differences when fix is set.
	Sweep(env Env, nets []*model.Network, fix bool) ([]string, error)
	// RemoveAll removes the host-wide state (a reset).
	RemoveAll(env Env) error
}

// Registry is a set of drivers by name. The drivers of this bpfnet
// register in the process's registry (Register, in init); an instance
// may be given another set (unit tests give fakes).
type Registry struct{ byName map[string]Driver }

// NewRegistry is a registry of ds.
func NewRegistry(ds ...Driver) *Registry {
	r := &Registry{byName: map[string]Driver{}}
	for _, d := range ds {
		r.Register(d)
	}
	return r
}

// Register makes d available by its name.
func (r *Registry) Register(d Driver) { r.byName[d.Name()] = d }

// Lookup finds a driver by name, with Docker's words for an unknown one.
func (r *Registry) Lookup(name string) (Driver, error) {
	if d, ok := r.byName[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("plugin %q not found", name)
}

// Names lists the drivers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// All is every driver, sorted by name.
func (r *Registry) All() []Driver {
	out := make([]Driver, 0, len(r.byName))
	for _, name := range r.Names() {
		out = append(out, r.byName[name])
	}
	return out
}

var registry = NewRegistry()

// Default is the process's registry: the drivers of this bpfnet.
func Default() *Registry { return registry }

// Register makes d available by its name; drivers register in init.
func Register(d Driver) { registry.Register(d) }

// Lookup finds a driver of the process's registry by name.
func Lookup(name string) (Driver, error) { return registry.Lookup(name) }

// Names lists the drivers of the process's registry.
func Names() []string { return registry.Names() }

// All is every driver of the process's registry, sorted by name.
func All() []Driver { return registry.All() }
