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
	Datapath() *loader.Datapath
	// Step is a point where the crash tests' fault hook may end the command.
	Step(what string) error
	// VethAlias is the mark the instance puts on the host side of ep's veth.
	VethAlias(ep *model.Endpoint) string
}

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

// All is every registered driver, sorted by name.
func All() []Driver {
	out := make([]Driver, 0, len(registry))
	for _, name := range Names() {
		out = append(out, registry[name])
	}
	return out
}

var registry = map[string]Driver{}

// Register makes d available by its name; drivers register in init.
func Register(d Driver) { registry[d.Name()] = d }

// Lookup finds a driver by name, with Docker's words for an unknown one.
func Lookup(name string) (Driver, error) {
	if d, ok := registry[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("plugin %q not found", name)
}

// Names lists the registered drivers.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
