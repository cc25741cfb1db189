// Package ctltest holds fakes of what the control plane acts on, for unit
// tests of its orchestration without root: a Kernel that is the machine
// (namespaces, host devices, pins), the datapath's maps and a driver's
// kernel state, all as map entries. It records every change and can fail
// one, or stop the command after one as a kill -9 would (Run).
package ctltest

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/bpfnet/bpfnet/loader"
)

// Kernel is one fake machine. Its fields are its state: tests read them,
// and change them behind the control plane's back.
type Kernel struct {
	Netns map[string]*Netns // container namespaces by file path
	Links map[string]*Link  // host devices by name
	// HostAddrs maps the host's addresses to a device index (Addrs).
	HostAddrs map[netip.Addr]int
	// HostRoutes are the subnets the host routes (Routes).
	HostRoutes []netip.Prefix
	// BusyPorts are host ports a host process holds, as "ip:port/proto".
	BusyPorts map[string]bool
	// Gateways are the networks whose gateway the fake driver gave the host.
	Gateways map[string]bool
	DP       *Datapath

	lastIndex int
	calls     []string
	faults    []*fault
	crash     chan struct{} // closed when a crash fault stops the command Run runs
}

// Netns is a container's namespace: bound to its file, or left unbound
// (a reboot's leftover), with the devices inside it.
type Netns struct {
	Bound   bool
	Devices map[string]bool
}

// Link is a host device; a veth has a Peer inside PeerNetns.
type Link struct {
	Index     int
	Alias     string
	PeerNetns string
	Peer      string
}

// New is an empty machine: no namespace, no device but lo, no pins.
func New() *Kernel {
	k := &Kernel{Netns: map[string]*Netns{}, Links: map[string]*Link{}, HostAddrs: map[netip.Addr]int{},
		BusyPorts: map[string]bool{}, Gateways: map[string]bool{}}
	k.Links["lo"] = &Link{Index: k.nextIndex()}
	k.DP = newDatapath(k)
	return k
}

func (k *Kernel) nextIndex() int { k.lastIndex++; return k.lastIndex }

// Calls is every call that changed the machine, in order, as "Op arg".
func (k *Kernel) Calls() []string { return append([]string(nil), k.calls...) }

// CallsOf is the calls of op.
func (k *Kernel) CallsOf(op string) []string {
	var out []string
	for _, c := range k.calls {
		if c == op || strings.HasPrefix(c, op+" ") {
			out = append(out, c)
		}
	}
	return out
}

// AddVeth makes a host veth named name with alias, peer of dev in the
// namespace at netns ("" for none), as another tool (or a crashed
// command) would.
func (k *Kernel) AddVeth(name, alias, netns, dev string) *Link {
	l := &Link{Index: k.nextIndex(), Alias: alias, PeerNetns: netns, Peer: dev}
	k.Links[name] = l
	if ns := k.Netns[netns]; ns != nil && dev != "" {
		ns.Devices[dev] = true
	}
	return l
}

// deleteVeth deletes a host veth and its peer.
func (k *Kernel) deleteVeth(name string) bool {
	l := k.Links[name]
	if l == nil {
		return false
	}
	delete(k.Links, name)
	if ns := k.Netns[l.PeerNetns]; ns != nil {
		delete(ns.Devices, l.Peer)
	}
	return true
}

// Reboot drops what a reboot takes: namespaces become unbound files,
// veths and pins go.
func (k *Kernel) Reboot() {
	for _, ns := range k.Netns {
		ns.Bound, ns.Devices = false, map[string]bool{}
	}
	for name := range k.Links {
		if name != "lo" {
			delete(k.Links, name)
		}
	}
	k.Gateways = map[string]bool{}
	k.DP = newDatapath(k)
}

// Summary describes the machine's state, sorted, for comparisons and
// failure messages.
func (k *Kernel) Summary() []string {
	var out []string
	for path, ns := range k.Netns {
		devs := make([]string, 0, len(ns.Devices))
		for d := range ns.Devices {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		out = append(out, fmt.Sprintf("netns %s bound=%v %v", path, ns.Bound, devs))
	}
	for name, l := range k.Links {
		if name != "lo" {
			out = append(out, fmt.Sprintf("link %s alias=%q peer=%s@%s", name, l.Alias, l.Peer, l.PeerNetns))
		}
	}
	for id := range k.Gateways {
		out = append(out, "gateway "+id)
	}
	out = append(out, k.DP.summary()...)
	sort.Strings(out)
	return out
}

// EndpointIPs are the addresses the datapath forwards to.
func (k *Kernel) EndpointIPs() []netip.Addr {
	var out []netip.Addr
	for ip := range k.DP.Endpoints {
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// PortEntries are the datapath's published ports.
func (k *Kernel) PortEntries() []loader.Port {
	ps, _ := k.DP.PortEntries()
	return ps
}
