package ctl

import (
	"net/netip"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
)

// Datapath is the eBPF datapath as the control plane uses it: the maps it
// fills from the store and reads back to compare, and the programs on the
// host's devices. *loader.Datapath is the real one; unit tests give a fake
// (ctl/ctltest).
type Datapath interface {
	driver.Datapath // the endpoints' programs, which the drivers attach
	EndpointTable
	PortTable
	FlowTable
	HostPrograms
	// Fresh tells whether opening created the maps: the kernel had no
	// state of the instance (a reboot, or its first command).
	Fresh() bool
	// Close releases the datapath's descriptors; what is pinned stays.
	Close()
	// Remove unpins and removes everything of the instance's datapath.
	Remove() error
}

// EndpointTable is the datapath's per-endpoint state: forwarding entries
// by address, and per-slot links, state and counters.
type EndpointTable interface {
	// MaxEndpoints bounds the slots (slot 0 and the host's included).
	MaxEndpoints() uint32
	EndpointEntries() (map[netip.Addr]loader.EndpointEntry, error)
	DeleteEndpointEntry(ip netip.Addr) error
	// EndpointLinkSlots are the slots with pinned program links.
	EndpointLinkSlots() (map[uint32]bool, error)
	// ForgetSlot removes a slot's links, state and counters.
	ForgetSlot(slot uint32) error
	// PublishingSlots are the slots whose state says they publish ports.
	PublishingSlots() (map[uint32]bool, error)
	SetPublishesPorts(slot uint32, on bool) error
	Counters(slot uint32) (loader.Counters, error)
}

// PortTable is the datapath's published ports.
type PortTable interface {
	PublishPort(p loader.Port) error
	UnpublishPort(p loader.Port) error
	PortEntries() ([]loader.Port, error)
}

// FlowTable is the datapath's connection tracking.
type FlowTable interface {
	// ConntrackEntries is the size of the established flows' table.
	ConntrackEntries() uint32
	Conntrack() ([]loader.Flow, error)
	ConntrackCounters() ([]loader.ConntrackCounter, error)
	FlushConntrackPorts(ps []loader.Port) (int, error)
	CountConntrackMatching(stale func(netip.Addr) bool) (int, error)
	FlushConntrackMatching(stale func(netip.Addr) bool) (int, error)
}

// HostPrograms are the host-wide programs: on the uplinks (with the
// host's addresses they must tell apart) and on the cgroup's sockets.
type HostPrograms interface {
	Uplinks() (map[int]netip.Addr, error)
	AttachUplink(ifindex int, ip netip.Addr) error
	DetachUplink(ifindex int) error
	SetHostIPs(ips []netip.Addr) error
	AttachSockets(cgroupPath string, replace bool) error
	HostNetnsKnown() (bool, error)
	LearnHostNetns(inHost func(func() error) error) error
	// The UDP socket programs run for every datagram of every process:
	// they are attached only while a UDP port is published.
	UDPSocketsAttached() bool
	SetUDPSockets(cgroupPath string, on bool) error
}

var _ Datapath = (*loader.Datapath)(nil)
