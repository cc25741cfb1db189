package ctl

import (
	"net/netip"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
)

// Machine is the machine an instance runs on, as the control plane acts on
// it itself (drivers act through their driver.Env): the containers'
// namespaces, the host namespace, the host-wide programs and the pinned
// datapath. kernelMachine is the real one; unit tests give a fake
// (ctl/ctltest), which needs no privilege.
type Machine interface {
	Namespaces
	Host
	HostWide
	Pins
}

// NetnsFile is what a container's namespace path holds.
type NetnsFile int

const (
	NoFile      NetnsFile = iota
	OtherFile             // a file that is no namespace's
	UnboundFile           // an empty file: a namespace's, unbound by a reboot or by a kill before the bind
	BoundNetns            // a live namespace
)

// Namespaces are the containers' network namespaces, each bound to a file.
type Namespaces interface {
	// CreateNetns binds a new namespace at path, with lo up,
	// making path's directory if need be; a file already at path is an
	// error. On error nothing stays.
	CreateNetns(path string) error
	// DeleteNetns unbinds and removes the file at path; none is fine.
	DeleteNetns(path string) error
	// NetnsAt tells what path holds.
	NetnsAt(path string) NetnsFile
	// NetnsFiles names the files in dir; none when dir does not exist.
	NetnsFiles(dir string) ([]string, error)
	// SameNetns tells whether the files a and b are the same namespace.
	SameNetns(a, b string) bool
	// RestoreDefaultRoute gives the namespace at path a default route
	// through the first of via whose device it has, unless it has one.
	RestoreDefaultRoute(path string, via []Gateway) error
}

// Gateway is a next hop through a device of a container's namespace.
type Gateway struct {
	Device string
	IP     netip.Addr
}

// Host is the instance's host network namespace.
type Host interface {
	// InHost runs fn on a thread in the host namespace: drivers and the
	// datapath's attaches act there.
	InHost(fn func() error) error
	// LinkExists tells whether the host has a device called name.
	LinkExists(name string) (bool, error)
	// LinkName names the host's device of index; false when none has it.
	LinkName(index int) (string, bool)
	// DeleteLink deletes the host's device called name; false when there
	// was none.
	DeleteLink(name string) (bool, error)
	// MarkedLinks names the host's devices whose alias starts with prefix.
	MarkedLinks(aliasPrefix string) ([]string, error)
	// Addrs maps the host's IPv4 addresses, other than those on the
	// drivers' host-wide devices, to the index of their device.
	Addrs() (map[netip.Addr]int, error)
	// Routes are the subnets the host uses: its IPv4 routes other than
	// default routes and the drivers' devices', and its addresses as /32s.
	Routes() ([]netip.Prefix, error)
	// Ephemeral is the host's range of ephemeral ports.
	Ephemeral() (ports.Ephemeral, error)
	// PortBusy tells whether a host process holds ip:port.
	PortBusy(ip netip.Addr, port uint16, proto ports.Proto) bool
	// HasAddr tells whether the host holds ip: a socket can bind it.
	HasAddr(ip netip.Addr) bool
}

// HostWide keeps the host-wide programs in line with the host's devices:
// the uplinks' programs, the host's addresses they tell apart, and the
// socket programs (on the kernel: syncHost, in uplinks.go).
type HostWide interface {
	// SyncHost attaches what is missing or changed; every mutating
	// command does, read-only ones never.
	SyncHost() error
	// ReloadHost replaces the host-wide programs with this build's.
	ReloadHost() error
	// ResetHost removes them.
	ResetHost() error
}

// Pins is the instance's datapath, pinned in its bpffs.
type Pins interface {
	// OpenDatapath opens the pinned datapath, creating what is missing.
	OpenDatapath(bpffs string, mode loader.AttachMode, sizes loader.Sizes) (Datapath, error)
	// OpenPinnedDatapath opens it without creating or changing anything;
	// loader.ErrNotLoaded when it is not pinned.
	OpenPinnedDatapath(bpffs string) (Datapath, error)
	// DatapathPinned tells whether the kernel holds the datapath's maps.
	DatapathPinned(bpffs string) bool
}
