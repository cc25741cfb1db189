package ctltest

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
)

// Datapath is the fake datapath's maps. A test reads them, and changes
// them behind the control plane's back.
type Datapath struct {
	k          *Kernel
	pinned     bool
	fresh      bool
	Endpoints  map[netip.Addr]loader.EndpointEntry
	Attached   map[uint32]int // ifindex of each slot's programs
	Publishing map[uint32]bool
	Ports      map[PortKey]loader.Port
	Flows      []loader.Flow
	UplinkIPs  map[int]netip.Addr
	udpSockets bool
}

// PortKey is what the datapath's port map is keyed by.
type PortKey struct {
	HostIP   netip.Addr // 0.0.0.0 for every address
	HostPort uint16
	Proto    uint8
}

func keyOf(p loader.Port) PortKey {
	return PortKey{ports.BindAddr(p.HostIP), p.HostPort, p.Proto}
}

// MaxEndpoints is the fake's size of the endpoint tables.
const MaxEndpoints = 64

var _ ctl.Datapath = (*Datapath)(nil)

func newDatapath(k *Kernel) *Datapath {
	return &Datapath{k: k, Endpoints: map[netip.Addr]loader.EndpointEntry{}, Attached: map[uint32]int{},
		Publishing: map[uint32]bool{}, Ports: map[PortKey]loader.Port{}, UplinkIPs: map[int]netip.Addr{}}
}

func (d *Datapath) summary() []string {
	var out []string
	for ip, e := range d.Endpoints {
		out = append(out, fmt.Sprintf("endpoint %v ifindex=%d slot=%d", ip, e.Ifindex, e.Slot))
	}
	for slot, ifindex := range d.Attached {
		out = append(out, fmt.Sprintf("programs slot=%d ifindex=%d", slot, ifindex))
	}
	for slot, on := range d.Publishing {
		if on {
			out = append(out, fmt.Sprintf("publishing slot=%d", slot))
		}
	}
	for k, p := range d.Ports {
		out = append(out, fmt.Sprintf("port %v:%d/%d -> %v:%d", k.HostIP, k.HostPort, k.Proto, p.ContainerIP, p.ContainerPort))
	}
	for _, f := range d.Flows {
		out = append(out, fmt.Sprintf("flow %v -> %v", f.Src, f.Dst))
	}
	return out
}

func (d *Datapath) AttachEndpoint(ep loader.Endpoint) error {
	done, err := d.k.change("AttachEndpoint", ep.IP, ep.Slot)
	if err != nil {
		return err
	}
	d.attach(ep)
	done()
	return nil
}

func (d *Datapath) attach(ep loader.Endpoint) {
	d.Attached[ep.Slot] = ep.HostIfindex
	d.Publishing[ep.Slot] = ep.PublishesPorts
	d.Endpoints[ep.IP] = loader.EndpointEntry{Ifindex: ep.HostIfindex, Network: ep.Network, Slot: ep.Slot}
}

func (d *Datapath) ReloadEndpoint(ep loader.Endpoint) error {
	done, err := d.k.change("ReloadEndpoint", ep.IP, ep.Slot)
	if err != nil {
		return err
	}
	d.attach(ep)
	done()
	return nil
}

func (d *Datapath) DetachEndpoint(ep loader.Endpoint) error {
	done, err := d.k.change("DetachEndpoint", ep.IP, ep.Slot)
	if err != nil {
		return err
	}
	delete(d.Endpoints, ep.IP)
	delete(d.Attached, ep.Slot)
	delete(d.Publishing, ep.Slot)
	done()
	return nil
}

func (d *Datapath) EndpointAttached(ifindex int, slot uint32) (bool, error) {
	at, ok := d.Attached[slot]
	return ok && at == ifindex, nil
}

func (d *Datapath) MaxEndpoints() uint32 { return MaxEndpoints }

func (d *Datapath) EndpointEntries() (map[netip.Addr]loader.EndpointEntry, error) {
	out := map[netip.Addr]loader.EndpointEntry{}
	for ip, e := range d.Endpoints {
		out[ip] = e
	}
	return out, nil
}

func (d *Datapath) DeleteEndpointEntry(ip netip.Addr) error {
	done, err := d.k.change("DeleteEndpointEntry", ip)
	if err != nil {
		return err
	}
	delete(d.Endpoints, ip)
	done()
	return nil
}

func (d *Datapath) EndpointLinkSlots() (map[uint32]bool, error) {
	out := map[uint32]bool{}
	for slot := range d.Attached {
		out[slot] = true
	}
	return out, nil
}

func (d *Datapath) ForgetSlot(slot uint32) error {
	done, err := d.k.change("ForgetSlot", slot)
	if err != nil {
		return err
	}
	delete(d.Attached, slot)
	delete(d.Publishing, slot)
	done()
	return nil
}

func (d *Datapath) PublishingSlots() (map[uint32]bool, error) {
	out := map[uint32]bool{}
	for slot, on := range d.Publishing {
		if on {
			out[slot] = true
		}
	}
	return out, nil
}

func (d *Datapath) SetPublishesPorts(slot uint32, on bool) error {
	done, err := d.k.change("SetPublishesPorts", slot, on)
	if err != nil {
		return err
	}
	d.Publishing[slot] = on
	done()
	return nil
}

func (d *Datapath) Counters(uint32) (loader.Counters, error) { return loader.Counters{}, nil }

func (d *Datapath) PublishPort(p loader.Port) error {
	done, err := d.k.change("PublishPort", portText(p))
	if err != nil {
		return err
	}
	d.Ports[keyOf(p)] = p
	done()
	return nil
}

func (d *Datapath) UnpublishPort(p loader.Port) error {
	if _, ok := d.Ports[keyOf(p)]; !ok {
		return nil
	}
	done, err := d.k.change("UnpublishPort", portText(p))
	if err != nil {
		return err
	}
	delete(d.Ports, keyOf(p))
	done()
	return nil
}

func portText(p loader.Port) string {
	return fmt.Sprintf("%v:%d/%d->%v:%d", ports.BindAddr(p.HostIP), p.HostPort, p.Proto, p.ContainerIP, p.ContainerPort)
}

func (d *Datapath) PortEntries() ([]loader.Port, error) {
	out := make([]loader.Port, 0, len(d.Ports))
	for _, p := range d.Ports {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return portText(out[i]) < portText(out[j]) })
	return out, nil
}

func (d *Datapath) ConntrackEntries() uint32                              { return 1 << 17 }
func (d *Datapath) Conntrack() ([]loader.Flow, error)                     { return d.Flows, nil }
func (d *Datapath) ConntrackCounters() ([]loader.ConntrackCounter, error) { return nil, nil }

// flush deletes the flows match names; it is one change, if any goes.
func (d *Datapath) flush(op string, match func(loader.Flow) bool) (int, error) {
	var kept []loader.Flow
	for _, f := range d.Flows {
		if !match(f) {
			kept = append(kept, f)
		}
	}
	n := len(d.Flows) - len(kept)
	if n == 0 {
		return 0, nil
	}
	done, err := d.k.change(op, n)
	if err != nil {
		return 0, err
	}
	d.Flows = kept
	done()
	return n, nil
}

func (d *Datapath) FlushConntrack(ips ...netip.Addr) (int, error) {
	return d.flush("FlushConntrack", func(f loader.Flow) bool {
		if len(ips) == 0 {
			return true
		}
		for _, ip := range ips {
			if f.Src.Addr() == ip || f.Dst.Addr() == ip || f.NAT.Addr() == ip {
				return true
			}
		}
		return false
	})
}

func (d *Datapath) FlushConntrackPorts(ps []loader.Port) (int, error) {
	return d.flush("FlushConntrackPorts", func(f loader.Flow) bool {
		for _, p := range ps {
			if f.Dst.Port() == p.HostPort && f.Proto == p.Proto && f.NAT.Addr() == p.ContainerIP {
				return true
			}
		}
		return false
	})
}

func staleFlow(stale func(netip.Addr) bool) func(loader.Flow) bool {
	return func(f loader.Flow) bool {
		return stale(f.Src.Addr()) || stale(f.Dst.Addr()) || (f.NAT.IsValid() && stale(f.NAT.Addr()))
	}
}

func (d *Datapath) CountConntrackMatching(stale func(netip.Addr) bool) (int, error) {
	n := 0
	for _, f := range d.Flows {
		if staleFlow(stale)(f) {
			n++
		}
	}
	return n, nil
}

func (d *Datapath) FlushConntrackMatching(stale func(netip.Addr) bool) (int, error) {
	return d.flush("FlushConntrackMatching", staleFlow(stale))
}

func (d *Datapath) Uplinks() (map[int]netip.Addr, error) {
	out := map[int]netip.Addr{}
	for i, ip := range d.UplinkIPs {
		out[i] = ip
	}
	return out, nil
}

func (d *Datapath) AttachUplink(ifindex int, ip netip.Addr) error {
	done, err := d.k.change("AttachUplink", ifindex, ip)
	if err != nil {
		return err
	}
	d.UplinkIPs[ifindex] = ip
	done()
	return nil
}

func (d *Datapath) DetachUplink(ifindex int) error {
	done, err := d.k.change("DetachUplink", ifindex)
	if err != nil {
		return err
	}
	delete(d.UplinkIPs, ifindex)
	done()
	return nil
}

func (d *Datapath) SetHostIPs([]netip.Addr) error                 { return nil }
func (d *Datapath) AttachSockets(string, bool) error              { return nil }
func (d *Datapath) HostNetnsKnown() (bool, error)                 { return true, nil }
func (d *Datapath) LearnHostNetns(func(func() error) error) error { return nil }

// UDP socket programs: attached or not, as the control plane says.
func (d *Datapath) UDPSocketsAttached() bool { return d.udpSockets }
func (d *Datapath) SetUDPSockets(_ string, on bool) error {
	d.udpSockets = on
	return nil
}
func (d *Datapath) Fresh() bool { return d.fresh }
func (d *Datapath) Close()      {}

// Remove unpins everything: the maps are gone.
func (d *Datapath) Remove() error {
	done, err := d.k.change("RemoveDatapath")
	if err != nil {
		return err
	}
	*d = *newDatapath(d.k)
	done()
	return nil
}
