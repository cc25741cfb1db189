package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfnet/bpfnet/bpf"
)

// The inventory is what the kernel holds of an instance, read back so the
// control plane can compare it with its store both ways: entries the
// store does not explain are as wrong as entries it lacks.

// ErrNotLoaded marks an instance whose maps are not pinned (never used,
// or gone with a reboot).
var ErrNotLoaded = errors.New("the datapath is not loaded")

// OpenPinned opens the instance's pinned maps without creating, mounting
// or changing anything: for commands that only read.
func OpenPinned(dir string) (*Datapath, error) {
	d := &Datapath{dir: dir, maps: map[string]*ebpf.Map{}}
	if !onBPFFS(dir) || !d.openPinned() {
		return nil, fmt.Errorf("open maps in %s: %w", dir, ErrNotLoaded)
	}
	d.assignMaps()
	return d, nil
}

// Pinned tells whether dir holds an instance's maps: the kernel still has
// state of the instance.
func Pinned(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, bpf.ContainerMapBpfnetEndpoints))
	return err == nil
}

// EndpointEntry is one entry of the forwarding map.
type EndpointEntry struct {
	Ifindex int
	Network uint32
	Slot    uint32
}

// EndpointEntries lists the forwarding map by address.
func (d *Datapath) EndpointEntries() (map[netip.Addr]EndpointEntry, error) {
	out := map[netip.Addr]EndpointEntry{}
	var k uint32
	var info bpf.EndpointInfo
	it := d.endpoints.Iterate()
	for it.Next(&k, &info) {
		out[keyIP(k)] = EndpointEntry{Ifindex: int(info.Ifindex), Network: info.Network, Slot: info.Slot}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// PortEntries lists the published ports the datapath serves.
func (d *Datapath) PortEntries() ([]Port, error) {
	var out []Port
	var k bpf.PortKey
	var t bpf.PortTarget
	it := d.ports.Iterate()
	for it.Next(&k, &t) {
		p := Port{HostIP: keyIP(k.HostIp), HostPort: portKey(k.HostPort), Proto: k.Proto,
			ContainerIP: keyIP(t.Ip), ContainerPort: portKey(t.Port)}
		if k.HostIp == 0 {
			p.HostIP = netip.Addr{}
		}
		out = append(out, p)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list published ports: %w", err)
	}
	return out, nil
}

// PublishingSlots lists the endpoint slots whose state says they publish
// ports.
func (d *Datapath) PublishingSlots() (map[uint32]bool, error) {
	out := map[uint32]bool{}
	var slot uint32
	var st bpf.EndpointState
	it := d.epState.Iterate()
	for it.Next(&slot, &st) {
		if st.Flags&bpf.EndpointFlagsENDPOINT_PUBLISHES_PORTS != 0 {
			out[slot] = true
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list endpoint state: %w", err)
	}
	return out, nil
}

// EndpointLinkSlots lists the slots that have pinned endpoint links (TCX).
func (d *Datapath) EndpointLinkSlots() (map[uint32]bool, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, "links"))
	if errors.Is(err, os.ErrNotExist) {
		return map[uint32]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list link pins: %w", err)
	}
	out := map[uint32]bool{}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "ep")
		num, _, ok2 := strings.Cut(rest, "_")
		if slot, err := strconv.ParseUint(num, 10, 32); ok && ok2 && err == nil {
			out[uint32(slot)] = true
		}
	}
	return out, nil
}

// EndpointAttached tells whether both of the endpoint programs run on the
// host-side veth ifindex (in the calling thread's namespace), attached as
// TCX links pinned for slot or as bpfnet's tc filters.
func (d *Datapath) EndpointAttached(ifindex int, slot uint32) (bool, error) {
	hooks := []struct {
		ingress bool
		name    string
		pin     string
	}{
		{true, bpf.ContainerProgBpfnetFromContainer, d.linkPin(endpointLink(slot, "ingress"))},
		{false, bpf.ContainerProgBpfnetToContainer, d.linkPin(endpointLink(slot, "egress"))},
	}
	for _, h := range hooks {
		if tcxLinkOn(h.pin, ifindex) {
			continue
		}
		holder, err := tcSlotHolder(tcFilterAttrs(ifindex, h.ingress))
		if err != nil {
			return false, err
		}
		if holder != h.name {
			return false, nil
		}
	}
	return true, nil
}

// tcxLinkOn is true when the link pinned at pin is attached to ifindex.
func tcxLinkOn(pin string, ifindex int) bool {
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		return false
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return false
	}
	tcx := info.TCX()
	return tcx != nil && int(tcx.Ifindex) == ifindex
}

// FlushConntrackMatching deletes the entries that name an address for
// which stale is true (as source, destination or translation), in one
// pass, and returns how many went.
func (d *Datapath) FlushConntrackMatching(stale func(netip.Addr) bool) (int, error) {
	var doomed []flowRef
	err := d.eachFlow(func(k bpf.CtKey, e bpf.CtEntry, established bool) {
		if stale(keyIP(k.Saddr)) || stale(keyIP(k.Daddr)) || (e.NatAddr != 0 && stale(keyIP(e.NatAddr))) {
			doomed = append(doomed, flowRef{k, established})
		}
	})
	if err != nil {
		return 0, err
	}
	return d.deleteFlows(doomed)
}

// DeleteEndpointEntry removes ip from the forwarding map only, leaving
// the slot's links, state and counters (another endpoint may hold it).
func (d *Datapath) DeleteEndpointEntry(ip netip.Addr) error {
	if err := d.endpoints.Delete(ipKey(ip)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete endpoint %v from map: %w", ip, err)
	}
	return nil
}

// ForgetSlot releases what the datapath keeps per endpoint slot: its
// pinned links, state and counters.
func (d *Datapath) ForgetSlot(slot uint32) error {
	if err := d.unpinLinks(slot); err != nil {
		return err
	}
	if err := d.SetPublishesPorts(slot, false); err != nil {
		return err
	}
	return d.ResetCounters(slot)
}

// CountConntrackMatching counts the entries FlushConntrackMatching would
// delete.
func (d *Datapath) CountConntrackMatching(stale func(netip.Addr) bool) (int, error) {
	n := 0
	err := d.eachFlow(func(k bpf.CtKey, e bpf.CtEntry, _ bool) {
		if stale(keyIP(k.Saddr)) || stale(keyIP(k.Daddr)) || (e.NatAddr != 0 && stale(keyIP(e.NatAddr))) {
			n++
		}
	})
	return n, err
}
