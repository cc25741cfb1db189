package datapath

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// uplinkModel predicts bpfnet_from_uplink. From the wire, only two things
// reach a container: replies to its flows (masqueraded, or routed as they
// are for a network without masquerade) and connections to its published
// ports, translated and handed straight to it, and ICMP errors about
// them. Anything else addressed to a container is dropped and counted;
// the rest is the host's.
type uplinkModel struct {
	w       *world
	ifindex uint32 // the uplink's, which a published flow's entry records
}

func (m *uplinkModel) fromUplink(frame []byte) *outcome {
	o := result(frame)
	// A tagged frame is for a VLAN device on top of the uplink.
	if binary.BigEndian.Uint16(frame[12:14]) != frames.EtherIPv4 || len(frame) < frames.EthLen+frames.IPv4Len {
		return o.passedHost()
	}
	if frame[frames.EthLen+9] == protoICMP {
		if r := m.icmpErrorIn(o, frame); r != nil {
			return r
		}
	}
	p := readIPv4(m.w, frame)
	if p.hasFlow {
		m.w.recordFrag(p)
		if e, ok := m.w.established(p); ok && (e.kind == snatReply || e.kind == routedReply) {
			return m.replyIn(o, p, e)
		}
		if t, ok := m.w.published(p.dst, p.dport, p.proto); ok {
			ep := m.w.endpoint(t.Addr())
			if ep == nil {
				return o.dropped(loader.HostSlot, dropNotPublished, dirTo)
			}
			m.w.keep(p, t, p.srcAP(), dnatReply, p.dstAP(), m.ifindex)
			return m.deliver(o, p, ep, t)
		}
		if e, ok := m.w.unconfirmed(p); ok && (e.kind == snatReply || e.kind == routedReply) {
			return m.replyIn(o, p, e)
		}
		if int(p.dport) >= snatFirst && m.w.isHostIP(p.dst) {
			// To a masquerade port with no flow: its state is gone, or it
			// is forged; the host resets or drops it.
			m.w.ctStats[bpf.CtStatCT_STAT_NO_FLOW]++
		}
	}
	if ep := m.w.endpoint(p.dst); ep != nil {
		return o.dropped(ep.Slot, dropNotPublished, dirTo)
	}
	return o.passedHost()
}

// passedHost: the host's; nothing counted.
func (o *outcome) passedHost() *outcome {
	o.verdict = verdictOK
	return o
}

// deliver rewrites the destination to `to` and hands the packet to ep.
func (m *uplinkModel) deliver(o *outcome, p l4, ep *loader.Endpoint, to netip.AddrPort) *outcome {
	if !o.nat(p, false, to) {
		return o.dropped(ep.Slot, dropMalformed, dirTo)
	}
	return m.deliverAsIs(o, ep)
}

func (m *uplinkModel) deliverAsIs(o *outcome, ep *loader.Endpoint) *outcome {
	setMAC(o.out, 0, ep.MAC)
	return o.count(ep.Slot, dirTo).redirected()
}

// replyIn hands a reply to a container's flow to it, translated back for
// a masqueraded flow, as it is for a routed one.
func (m *uplinkModel) replyIn(o *outcome, p l4, e ctFlow) *outcome {
	ep := m.w.endpoint(e.nat.Addr())
	if ep == nil {
		return o.dropped(loader.HostSlot, dropNotPublished, dirTo)
	}
	if e.kind == routedReply {
		return m.deliverAsIs(o, ep)
	}
	return m.deliver(o, p, ep, e.nat)
}

// icmpErrorIn hands an ICMP error about a container's flow to it, about
// its own addresses: the quote is a packet the host put on the wire, so
// its reverse is the reply direction of a masqueraded or routed flow, or
// its source is a published port with a flow to the quoted destination
// through that very address and port. nil: about no container's flow.
func (m *uplinkModel) icmpErrorIn(o *outcome, frame []byte) *outcome {
	err, ok := readICMPError(frame)
	if !ok {
		return nil
	}
	var to netip.AddrPort
	if e, ok := m.w.flow(err.proto, err.dst, err.src); ok && (e.kind == snatReply || e.kind == routedReply) {
		ep := m.w.endpoint(e.nat.Addr())
		if ep == nil {
			return nil
		}
		if e.kind == routedReply {
			return m.deliverAsIs(o, ep)
		}
		to = e.nat
	} else {
		t, ok := m.w.published(err.src.Addr(), err.src.Port(), err.proto)
		if !ok {
			return nil
		}
		e, ok := m.w.flow(err.proto, t, err.dst)
		if !ok || e.kind != dnatReply || e.nat != err.src {
			return nil
		}
		if m.w.endpoint(t.Addr()) == nil {
			return nil
		}
		to = t
	}
	o.natError(err, true, to)
	return m.deliverAsIs(o, m.w.endpoint(to.Addr()))
}
