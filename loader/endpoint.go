package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
)

// FirstEndpointSlot is the lowest counters row an endpoint may take: the
// rows below count what belongs to no endpoint (enum slots).
const FirstEndpointSlot = uint32(bpf.SlotsFIRST_ENDPOINT_SLOT)

// HostSlot is the counters row of what belongs to no endpoint: drops on
// the uplinks and of packets no endpoint sent.
const HostSlot = uint32(bpf.SlotsHOST_SLOT)

// Endpoint is what the datapath knows of one container interface.
type Endpoint struct {
	Slot           uint32 // row in the counters, unique in the instance
	Network        uint32 // network number, unique in the instance
	IP             netip.Addr
	MAC            net.HardwareAddr
	Subnet         netip.Prefix
	Gateway        netip.Addr
	GatewayMAC     net.HardwareAddr
	ICCDisabled    bool
	Internal       bool
	NoMasquerade   bool // the network's enable_ip_masquerade=false
	PublishesPorts bool // the container has published ports: replies need reverse NAT
	HostIfindex    int  // host-side veth, in the instance's host namespace
}

// EndpointPrograms are the two programs loaded for one endpoint.
type EndpointPrograms struct {
	FromContainer *ebpf.Program // tc ingress of the host-side veth
	ToContainer   *ebpf.Program // tc egress of the host-side veth
}

// Close releases the programs; attached ones stay loaded.
func (p *EndpointPrograms) Close() {
	p.FromContainer.Close()
	p.ToContainer.Close()
}

// ipKey is an IPv4 address as the datapath stores it: network byte order in
// memory, whatever the host's endianness.
func ipKey(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func keyIP(k uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], k)
	return netip.AddrFrom4(b)
}

// portKey is a port as the datapath stores it: network byte order in memory.
func portKey(p uint16) uint16 { return p<<8 | p>>8 }

func maskKey(p netip.Prefix) uint32 {
	m := net.CIDRMask(p.Bits(), 32)
	return binary.NativeEndian.Uint32(m)
}

func (ep Endpoint) config() bpf.EndpointConfig {
	c := bpf.EndpointConfig{
		Ip:         ipKey(ep.IP),
		GatewayIp:  ipKey(ep.Gateway),
		Subnet:     ipKey(ep.Subnet.Masked().Addr()),
		SubnetMask: maskKey(ep.Subnet),
		Network:    ep.Network,
		Slot:       ep.Slot,
	}
	if ep.ICCDisabled {
		c.Flags |= uint32(bpf.NetworkFlagsNETWORK_ICC_DISABLED)
	}
	if ep.Internal {
		c.Flags |= uint32(bpf.NetworkFlagsNETWORK_INTERNAL)
	}
	if ep.NoMasquerade {
		c.Flags |= uint32(bpf.NetworkFlagsNETWORK_NO_MASQUERADE)
	}
	copy(c.Mac[:], ep.MAC)
	copy(c.GatewayMac[:], ep.GatewayMAC)
	return c
}

func (ep Endpoint) info() bpf.EndpointInfo {
	i := bpf.EndpointInfo{Ifindex: uint32(ep.HostIfindex), Network: ep.Network, Slot: ep.Slot}
	copy(i.Mac[:], ep.MAC)
	return i
}

func (ep Endpoint) validate(max uint32) error {
	switch {
	case !ep.IP.Is4() || !ep.Gateway.Is4() || !ep.Subnet.Addr().Is4():
		return fmt.Errorf("endpoint %v: addresses must be IPv4", ep.IP)
	case len(ep.MAC) != 6 || len(ep.GatewayMAC) != 6:
		return fmt.Errorf("endpoint %v: MAC addresses must be 6 bytes", ep.IP)
	case ep.Slot >= max:
		return fmt.Errorf("endpoint %v: slot %d beyond the %d the maps hold", ep.IP, ep.Slot, max)
	case ep.Slot < FirstEndpointSlot:
		return fmt.Errorf("endpoint %v: slot %d is the host's; endpoints start at %d", ep.IP, ep.Slot, FirstEndpointSlot)
	}
	return nil
}

// SetPublishesPorts tells the running programs of the endpoint in slot
// whether it has published ports, whose replies they must translate back.
func (d *Datapath) SetPublishesPorts(slot uint32, on bool) error {
	var st bpf.EndpointState
	if on {
		st.Flags |= bpf.EndpointFlagsENDPOINT_PUBLISHES_PORTS
	}
	if err := d.epState.Update(slot, &st, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set state of endpoint slot %d: %w", slot, err)
	}
	return nil
}

// LoadEndpointPrograms loads the container programs with ep's identity
// compiled in, sharing the instance's maps, and sets ep's run-time state. AttachEndpoint uses it; BPF
// unit tests run the programs directly.
func (d *Datapath) LoadEndpointPrograms(ep Endpoint) (*EndpointPrograms, error) {
	if err := ep.validate(d.MaxEndpoints()); err != nil {
		return nil, err
	}
	base, err := d.containerSpec()
	if err != nil {
		return nil, err
	}
	if err := d.SetPublishesPorts(ep.Slot, ep.PublishesPorts); err != nil {
		return nil, err
	}
	spec := base.Copy()
	if err := spec.Variables[bpf.ContainerVarConfig].Set(ep.config()); err != nil {
		return nil, fmt.Errorf("set config of endpoint %v: %w", ep.IP, err)
	}
	var objs bpf.ContainerObjects
	err = spec.LoadAndAssign(&objs, d.loadOptions(spec))
	if err != nil {
		return nil, fmt.Errorf("load programs of endpoint %v: %w", ep.IP, err)
	}
	// The maps are the Datapath's; only the programs belong to the caller.
	return &EndpointPrograms{FromContainer: objs.BpfnetFromContainer, ToContainer: objs.BpfnetToContainer}, nil
}

func (d *Datapath) linkPin(name string) string {
	return filepath.Join(d.dir, "links", name)
}

func endpointLink(slot uint32, dir string) string { return fmt.Sprintf("ep%d_%s", slot, dir) }

// unpin removes a pinned link, which detaches it; a missing pin is fine.
func (d *Datapath) unpin(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin %s: %w", path, err)
	}
	return nil
}

// AttachEndpoint attaches ep's programs to its host-side veth, then makes ep
// reachable by publishing it in the endpoint map; its counters start at
// zero. Call it from a thread in the instance's host network namespace:
// ifindexes are per namespace.
func (d *Datapath) AttachEndpoint(ep Endpoint) (err error) {
	defer func() {
		if err != nil {
			d.unpinLinks(ep.Slot)
		}
	}()
	if err := d.ResetCounters(ep.Slot); err != nil {
		return err
	}
	return d.attachEndpoint(ep)
}

// ReloadEndpoint replaces the programs of an attached endpoint with this
// build's, in place; its counters go on.
func (d *Datapath) ReloadEndpoint(ep Endpoint) error { return d.attachEndpoint(ep) }

func (d *Datapath) attachEndpoint(ep Endpoint) error {
	progs, err := d.LoadEndpointPrograms(ep)
	if err != nil {
		return err
	}
	defer progs.Close()
	if err := d.attach(ep.HostIfindex, hook{ingress: false, prog: progs.ToContainer, name: bpf.ContainerProgBpfnetToContainer}, d.linkPin(endpointLink(ep.Slot, "egress"))); err != nil {
		return err
	}
	if err := d.attach(ep.HostIfindex, hook{ingress: true, prog: progs.FromContainer, name: bpf.ContainerProgBpfnetFromContainer}, d.linkPin(endpointLink(ep.Slot, "ingress"))); err != nil {
		return err
	}
	return d.PublishEndpoint(ep)
}

// PublishEndpoint makes ep a forwarding target: other endpoints' programs
// find it by address. AttachEndpoint calls it once ep's programs run;
// endpoints without local programs (remote ones, tests) use it alone.
func (d *Datapath) PublishEndpoint(ep Endpoint) error {
	info := ep.info()
	if err := d.endpoints.Update(ipKey(ep.IP), &info, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("add endpoint %v to map: %w", ep.IP, err)
	}
	return nil
}

// DetachEndpoint makes ep unreachable and releases its links. The caller
// deletes the veth, which takes tc filters with it. Missing pieces are not
// an error, so it also cleans up after a half-done attach.
func (d *Datapath) DetachEndpoint(ep Endpoint) error {
	if err := d.endpoints.Delete(ipKey(ep.IP)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete endpoint %v from map: %w", ep.IP, err)
	}
	if err := d.unpinLinks(ep.Slot); err != nil {
		return err
	}
	if err := d.SetPublishesPorts(ep.Slot, false); err != nil {
		return err
	}
	return d.ResetCounters(ep.Slot)
}

func (d *Datapath) unpinLinks(slot uint32) error {
	for _, dir := range []string{"ingress", "egress"} {
		if err := d.unpin(d.linkPin(endpointLink(slot, dir))); err != nil {
			return err
		}
	}
	return nil
}

// EndpointIfindex returns the host-side ifindex the map holds for ip, so
// the kernel state can be checked against the store.
func (d *Datapath) EndpointIfindex(ip netip.Addr) (int, bool, error) {
	var info bpf.EndpointInfo
	err := d.endpoints.Lookup(ipKey(ip), &info)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up endpoint %v: %w", ip, err)
	}
	return int(info.Ifindex), true, nil
}
