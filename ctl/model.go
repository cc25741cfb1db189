// Package ctl is bpfnet's control plane: networks, containers and their
// endpoints, kept in a store that is the truth, from which the kernel state
// (namespaces, veths, addresses, routes, datapath entries) is derived.
package ctl

import (
	"net/netip"
	"time"

	"github.com/bpfnet/bpfnet/ipam"
)

// Driver names, as Docker spells them.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the predefined networks.
const (
	NetworkBridge = "bridge"
	NetworkHost   = "host"
	NetworkNone   = "none"
)

// Network is one network of the instance.
type Network struct {
	ID         string
	Name       string
	Number     uint32 // the datapath's network number; 0 for host and none
	Driver     string
	Created    time.Time
	Predefined bool
	IPAM       ipam.Config // bridge only
	UserSubnet bool        // the subnet came from --subnet: static addresses allowed
	Internal   bool
	Settings   BridgeSettings
	Options    map[string]string // as given, for inspect
	Labels     map[string]string
}

// Container is a network namespace with its endpoints.
type Container struct {
	ID        string
	Name      string
	Created   time.Time
	Netns     string // path of the namespace; "" in host mode, which uses the instance's host
	Adopted   bool   // --netns: not created by bpfnet, never deleted by it
	Mode      string // NetworkHost, NetworkNone or "" for bridge networks
	Endpoints []*Endpoint
	// Published ports are in the store's port index (Instance.Ports); they
	// lead to the first endpoint.
}

// Endpoint is a container's interface on one bridge network.
type Endpoint struct {
	ID         string
	NetworkID  string
	IP         netip.Addr
	MAC        string
	Aliases    []string
	Slot       uint32 // counters row in the datapath
	Ifname     string // inside the container: eth0, eth1...
	HostIfname string // host side of the veth pair
}

// Endpoint returns c's endpoint on network id, or nil.
func (c *Container) Endpoint(networkID string) *Endpoint {
	for _, ep := range c.Endpoints {
		if ep.NetworkID == networkID {
			return ep
		}
	}
	return nil
}
