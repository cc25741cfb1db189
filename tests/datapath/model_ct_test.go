package datapath

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// Connection tracking as lib/ct.h documents it, on the world's entries: a
// flow starts unconfirmed (bpfnet_ct_new) and moves to bpfnet_ct when it
// is confirmed: UDP and ICMP echo when its reply direction sends, TCP when
// the originator acknowledges sequence space the reply direction sent (the
// handshake's last ACK). A masqueraded flow's two entries move together.
// A packet that finds its entry refreshes it; FIN or RST marks it closing.
// Lifetimes are not modelled: every entry the model makes is alive.

// seqRange is what the reply direction of an unconfirmed TCP flow sent:
// [first, end).
type seqRange struct{ first, end uint32 }

// entry finds the entry for a tuple in one table, expired ones included.
func (w *world) entry(proto uint8, src, dst netip.AddrPort, unconfirmed bool) int {
	return slices.IndexFunc(w.ct, func(c ctFlow) bool {
		return c.proto == proto && c.src == src && c.dst == dst && c.unconfirmed == unconfirmed
	})
}

// put stores c in its table, replacing the entry for its tuple.
func (w *world) put(c ctFlow) {
	if i := w.entry(c.proto, c.src, c.dst, c.unconfirmed); i >= 0 {
		w.ct[i] = c
		return
	}
	w.ct = append(w.ct, c)
}

func (w *world) remove(proto uint8, src, dst netip.AddrPort, unconfirmed bool) {
	if i := w.entry(proto, src, dst, unconfirmed); i >= 0 {
		w.ct = slices.Delete(w.ct, i, i+1)
	}
	if unconfirmed {
		delete(w.seqs, ctFlow{proto: proto, src: src, dst: dst}.key())
	}
}

// touch refreshes the live entry at i for packet p.
func (w *world) touch(i int, p l4) {
	if p.tcpFlags&(frames.TCPFIN|frames.TCPRST) != 0 {
		w.ct[i].closing = true
	}
}

// established is the live bpfnet_ct entry of the packet's own tuple,
// refreshed.
func (w *world) established(p l4) (ctFlow, bool) {
	i := w.entry(p.proto, p.srcAP(), p.dstAP(), false)
	if i < 0 || w.ct[i].life == 0 {
		return ctFlow{}, false
	}
	w.touch(i, p)
	return w.ct[i], true
}

// unconfirmed is the live bpfnet_ct_new entry of the packet's own tuple,
// as it was before the packet, which may confirm its flow: it is the
// originator's for a masqueraded flow's outbound entry, the reply
// direction's for every other kind.
func (w *world) unconfirmed(p l4) (ctFlow, bool) {
	i := w.entry(p.proto, p.srcAP(), p.dstAP(), true)
	if i < 0 || w.ct[i].life == 0 {
		return ctFlow{}, false
	}
	e := w.ct[i]
	w.newPacket(i, p, e.kind == snatOrig)
	return e, true
}

// newPacket is packet p of the unconfirmed flow of entry i.
func (w *world) newPacket(i int, p l4, origin bool) {
	w.touch(i, p)
	e := w.ct[i]
	if origin {
		r := e // the reply direction's record: the partner's for a masqueraded flow
		if e.kind == snatOrig {
			j := w.entry(p.proto, e.dst, e.nat, true)
			if j < 0 {
				return
			}
			r = w.ct[j]
		}
		if w.acksReply(p, r) {
			w.confirm(e)
		}
		return
	}
	if p.proto != protoTCP {
		w.confirm(e)
		return
	}
	k, end := e.key(), p.seq+p.seqLen
	if !e.seen {
		w.ct[i].seen = true
		w.seqs[k] = seqRange{p.seq, end}
	} else if s := w.seqs[k]; int32(end-s.end) > 0 {
		w.seqs[k] = seqRange{s.first, end}
	}
}

// acksReply: p, from the originator, acknowledges what the reply
// direction (recorded in r) sent; any packet does for UDP and ICMP.
func (w *world) acksReply(p l4, r ctFlow) bool {
	if !r.seen {
		return false
	}
	if p.proto != protoTCP {
		return true
	}
	if p.tcpFlags&(frames.TCPACK|frames.TCPSYN|frames.TCPRST) != frames.TCPACK {
		return false
	}
	s := w.seqs[r.key()]
	return p.ack-s.first-1 < s.end-s.first
}

// confirm moves e's flow (both entries of a masqueraded one) to bpfnet_ct.
func (w *world) confirm(e ctFlow) {
	if w.entry(e.proto, e.src, e.dst, true) < 0 {
		return
	}
	w.ctStats[bpf.CtStatCT_STAT_CONFIRMED]++
	move := func(c ctFlow) {
		w.remove(c.proto, c.src, c.dst, true)
		c.unconfirmed, c.seen, c.life = false, false, hour
		w.put(c)
	}
	if e.kind == snatOrig || e.kind == snatReply {
		pk := ctFlow{proto: e.proto, src: e.dst, dst: e.nat}
		if e.kind == snatReply {
			pk = ctFlow{proto: e.proto, src: e.nat, dst: e.src}
		}
		if j := w.entry(pk.proto, pk.src, pk.dst, true); j >= 0 {
			move(w.ct[j])
		}
	}
	if i := w.entry(e.proto, e.src, e.dst, true); i >= 0 {
		move(w.ct[i])
	}
}

// create starts a flow, unconfirmed, under the tuple src -> dst.
func (w *world) create(p l4, src, dst netip.AddrPort, kind bpf.CtKind, nat netip.AddrPort, ifindex uint32) {
	w.ctStats[bpf.CtStatCT_STAT_NEW]++
	w.remove(p.proto, src, dst, true)
	w.put(ctFlow{proto: p.proto, src: src, dst: dst, kind: kind, nat: nat, ifindex: ifindex, life: hour,
		closing: p.tcpFlags&(frames.TCPFIN|frames.TCPRST) != 0, unconfirmed: true})
}

// refresh is for the originator's packet p of a flow whose reply entry,
// under src -> dst, says kind and nat: an entry that says so is
// refreshed (true), one that says otherwise is stale and goes.
func (w *world) refresh(p l4, src, dst netip.AddrPort, kind bpf.CtKind, nat netip.AddrPort, ifindex uint32) bool {
	says := func(c ctFlow) bool { return c.kind == kind && c.nat == nat }
	if i := w.entry(p.proto, src, dst, false); i >= 0 && w.ct[i].life > 0 {
		if says(w.ct[i]) {
			w.touch(i, p)
			w.ct[i].ifindex = ifindex
			return true
		}
		w.remove(p.proto, src, dst, false)
	}
	if i := w.entry(p.proto, src, dst, true); i >= 0 && w.ct[i].life > 0 && says(w.ct[i]) {
		w.newPacket(i, p, true)
		return true
	}
	return false
}

// keep is refresh, the flow starting over when there is no entry.
func (w *world) keep(p l4, src, dst netip.AddrPort, kind bpf.CtKind, nat netip.AddrPort, ifindex uint32) {
	if !w.refresh(p, src, dst, kind, nat, ifindex) {
		w.create(p, src, dst, kind, nat, ifindex)
	}
}

// inUse: a live entry in either table holds the tuple.
func (w *world) inUse(proto uint8, src, dst netip.AddrPort) bool {
	_, ok := w.flow(proto, src, dst)
	return ok
}

// clone is a copy of w whose entries the model may change.
func (w *world) clone() *world {
	c := *w
	c.ct = slices.Clone(w.ct)
	c.seqs = make(map[bpf.CtKey]seqRange, len(w.seqs))
	for k, v := range w.seqs {
		c.seqs[k] = v
	}
	c.frags = slices.Clone(w.frags)
	c.ctStats = map[bpf.CtStat]uint64{}
	return &c
}

// ctState is an entry as the fuzz test compares it: what it does and
// whether it is alive, not how long it has left.
type ctState struct {
	proto                uint8
	src, dst             netip.AddrPort
	kind                 bpf.CtKind
	nat                  netip.AddrPort
	ifindex              uint32
	closing, seen, alive bool
	unconfirmed          bool
}

func (s ctState) String() string {
	return fmt.Sprintf("%v alive=%v", ctFlow{proto: s.proto, src: s.src, dst: s.dst, kind: s.kind, nat: s.nat,
		ifindex: s.ifindex, closing: s.closing, unconfirmed: s.unconfirmed, seen: s.seen}, s.alive)
}

func ctStates(flows []ctFlow) []ctState {
	out := make([]ctState, 0, len(flows))
	for _, c := range flows {
		out = append(out, ctState{c.proto, c.src, c.dst, c.kind, c.nat, c.ifindex, c.closing, c.seen, c.life > 0, c.unconfirmed})
	}
	return out
}
