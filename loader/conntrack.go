package loader

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/bpf"
)

// Flow is one connection tracking entry.
type Flow struct {
	Proto         uint8
	Src, Dst      netip.AddrPort // the tuple the entry matches
	Kind          string         // dnat-reply, snat-orig, snat-reply
	NAT           netip.AddrPort // what the matched address becomes
	Closing       bool
	Established   bool // confirmed (in bpfnet_ct); false: before the handshake or a reply (bpfnet_ct_new)
	ExpiresIn     time.Duration
	UplinkIfindex int
}

// MasqueradePortFirst and MasqueradePortLast bound the source ports (and
// ICMP echo identifiers) masquerade gives flows (enum masquerade_range).
const (
	MasqueradePortFirst = uint16(bpf.MasqueradeRangeSNAT_PORT_FIRST)
	MasqueradePortLast  = uint16(bpf.MasqueradeRangeSNAT_PORT_LAST)
)

// ctKinds names the C enum ct_kind's values as `conntrack ls` shows them,
// read from BTF: CT_DNAT_REPLY is dnat-reply.
func (d *Datapath) ctKinds() (map[bpf.CtKind]string, error) {
	names, err := enumNames[bpf.CtKind](d, "ct_kind", "CT_", math.MaxUint32)
	for k, n := range names {
		names[k] = strings.ToLower(strings.ReplaceAll(n, "_", "-"))
	}
	return names, err
}

func monotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// Conntrack lists the live entries.
func (d *Datapath) Conntrack() ([]Flow, error) {
	kinds, err := d.ctKinds()
	if err != nil {
		return nil, err
	}
	now := monotonicNow()
	var out []Flow
	err = d.eachFlow(func(k bpf.CtKey, e bpf.CtEntry, established bool) {
		if e.Expires < now {
			return
		}
		out = append(out, Flow{
			Proto: k.Proto,
			Src:   netip.AddrPortFrom(keyIP(k.Saddr), portKey(k.Sport)),
			Dst:   netip.AddrPortFrom(keyIP(k.Daddr), portKey(k.Dport)),
			Kind:  kinds[e.Kind], NAT: netip.AddrPortFrom(keyIP(e.NatAddr), portKey(e.NatPort)),
			Closing: e.Closing != 0, Established: established,
			ExpiresIn: time.Duration(e.Expires - now), UplinkIfindex: int(e.Ifindex),
		})
	})
	return out, err
}

// eachFlow calls fn for every entry of both tables, expired ones included.
func (d *Datapath) eachFlow(fn func(k bpf.CtKey, e bpf.CtEntry, established bool)) error {
	var k bpf.CtKey
	var e bpf.CtEntry
	it := d.ct.Iterate()
	for it.Next(&k, &e) {
		fn(k, e, true)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list conntrack: %w", err)
	}
	var h bpf.CtNewEntry
	it = d.ctNew.Iterate()
	for it.Next(&k, &h) {
		fn(k, h.E, false)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list unconfirmed conntrack entries: %w", err)
	}
	return nil
}

// flowRef is an entry of one of the two tables.
type flowRef struct {
	key         bpf.CtKey
	established bool
}

// FlushConntrack deletes the entries that mention one of ips as an address
// of the tuple or as a translation (all entries when ips is empty), in one
// pass over the table, and returns how many went. Removing a container or
// its ports flushes its flows, so no stale entry sends a later flow to an
// old target.
func (d *Datapath) FlushConntrack(ips ...netip.Addr) (int, error) {
	want := make(map[uint32]bool, len(ips))
	for _, ip := range ips {
		want[ipKey(ip)] = true
	}
	var doomed []flowRef
	err := d.eachFlow(func(k bpf.CtKey, e bpf.CtEntry, established bool) {
		if len(ips) == 0 || want[k.Saddr] || want[k.Daddr] || want[e.NatAddr] {
			doomed = append(doomed, flowRef{k, established})
		}
	})
	if err != nil {
		return 0, err
	}
	return d.deleteFlows(doomed)
}

// FlushConntrackPorts deletes the flows that came in through the published
// ports ps, in one pass over the table, and returns how many went.
func (d *Datapath) FlushConntrackPorts(ps []Port) (int, error) {
	type through struct {
		proto             uint8
		hostPort, ctrPort uint16
		ctrIP             uint32
	}
	want := make(map[through]bool, len(ps))
	for _, p := range ps {
		want[through{p.Proto, portKey(p.HostPort), portKey(p.ContainerPort), ipKey(p.ContainerIP)}] = true
	}
	var doomed []flowRef
	err := d.eachFlow(func(k bpf.CtKey, e bpf.CtEntry, established bool) {
		if (e.Kind == bpf.CtKindCT_DNAT_REPLY || e.Kind == bpf.CtKindCT_HAIRPIN_SELF) &&
			want[through{k.Proto, e.NatPort, k.Sport, k.Saddr}] {
			doomed = append(doomed, flowRef{k, established})
		}
	})
	if err != nil {
		return 0, err
	}
	return d.deleteFlows(doomed)
}

// deleteFlows deletes entries; the sweep frees their ring slots.
func (d *Datapath) deleteFlows(refs []flowRef) (int, error) {
	n := 0
	for _, r := range refs {
		m, k := d.ctNew, r.key
		if r.established {
			m = d.ct
		}
		if err := m.Delete(k); err == nil {
			n++
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, fmt.Errorf("delete conntrack entry %d %v:%d -> %v:%d: %w", k.Proto, keyIP(k.Saddr), portKey(k.Sport), keyIP(k.Daddr), portKey(k.Dport), err)
		}
	}
	return n, nil
}
