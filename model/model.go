// Package model holds the records of bpfnet's store: networks,
// containers and their endpoints, as the control plane plans them and
// every store implementation keeps them.
package model

import (
	"fmt"
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
	Settings   Settings
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
	// Exposed is the ports --expose named ("80/tcp"), for inspect's
	// Config.ExposedPorts and ls's expose filter.
	Exposed []string `json:",omitempty"`
	// SharesWith is the ID of the container whose network namespace this
	// one joined (--network container:NAME); SharedBy, on that container,
	// lists the IDs of those that joined it.
	SharesWith string   `json:",omitempty"`
	SharedBy   []string `json:",omitempty"`
	// Mounts is what `bpfnet exec` mounts in the command's view of the
	// filesystem (-v, --volumes-from).
	Mounts []Mount `json:",omitempty"`
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
	StaticIP   bool   `json:",omitempty"` // the user gave IP (--ip): inspect's IPAMConfig
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

// Settings are a network's driver options, resolved.
type Settings struct {
	ICC        bool
	MTU        int
	Masquerade bool
	// HostBindingIPv4 is the host address of the network's published
	// ports when -p names none (Docker's bridge.host_binding_ipv4);
	// invalid: every address.
	HostBindingIPv4 netip.Addr
}

// State is the networks and containers in memory. Networks are few and
// always loaded; containers are read as a command needs them (every one
// only for listings, checks and repairs). Published ports are not in it.
type State struct {
	Networks   map[string]*Network   // by ID
	Containers map[string]*Container // by ID: those read so far, or all
}

// ValidID: IDs are 64 lowercase hex digits.
func ValidID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Validate refuses a container record stored under id whose identifiers
// bpfnet derives device names and marks from: a store is data, and a
// planted one must not make bpfnet act on something else.
func (c *Container) Validate(id string) error {
	if !ValidID(id) || c.ID != id {
		return fmt.Errorf("container record %q has an invalid ID", id)
	}
	for _, ep := range c.Endpoints {
		if !ValidID(ep.ID) || !ep.IP.Is4() {
			return fmt.Errorf("container %q has an endpoint with an invalid ID or address", c.Name)
		}
	}
	return nil
}

// Mount is a volume or a host directory seen at Destination by a
// container's processes.
type Mount struct {
	Volume      bool   // Source names a volume; else it is a host path
	Source      string // the volume's name, or an absolute host path
	Destination string // absolute
	ReadOnly    bool
}
