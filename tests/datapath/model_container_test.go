package datapath

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// containerModel predicts bpfnet_from_container and bpfnet_to_container of
// endpoint ep (its flags as its network's; PublishesPorts as its state)
// on the host side of its veth in the host namespace of netns_test.go.
type containerModel struct {
	w  *world
	ep loader.Endpoint
	// pick is the masquerade port the program chose for a new flow
	// src -> dst (at random in the masquerade range), read from its
	// entry; 0 if it made none.
	pick func(proto uint8, src, dst netip.AddrPort) uint16
}

// fromContainer: a container sends only untagged Ethernet frames from its
// own MAC, IPv4 from its own address and ARP about itself. The frame is at
// least 14 bytes (BPF_PROG_TEST_RUN refuses shorter ones).
func (m *containerModel) fromContainer(frame []byte) *outcome {
	o := result(frame)
	slot := m.ep.Slot
	if !bytes.Equal(frame[6:12], m.ep.MAC) {
		return o.dropped(slot, dropSpoofedMAC, dirFrom)
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case frames.EtherIPv4:
		return m.ipv4(o, frame)
	case frames.EtherARP:
		return m.arp(o, frame)
	case frames.EtherVLAN, frames.EtherQinQ:
		return o.dropped(slot, dropVLAN, dirFrom)
	}
	return o.dropped(slot, dropUnsupportedL3, dirFrom)
}

// arp answers requests for the gateway and for same-network peers with
// the gateway's MAC (every neighbour is reached through it); replies and
// gratuitous ARP go to the host.
func (m *containerModel) arp(o *outcome, frame []byte) *outcome {
	slot := m.ep.Slot
	if len(frame) < frames.EthLen+frames.ARPLen {
		return o.dropped(slot, dropMalformed, dirFrom)
	}
	a := frame[frames.EthLen:]
	if binary.BigEndian.Uint16(a[0:2]) != frames.ARPHwEther || binary.BigEndian.Uint16(a[2:4]) != frames.EtherIPv4 ||
		a[4] != 6 || a[5] != 4 {
		return o.dropped(slot, dropUnsupportedARP, dirFrom)
	}
	senderIP, target := netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
	if !bytes.Equal(a[8:14], m.ep.MAC) || (senderIP != m.ep.IP && senderIP != netip.IPv4Unspecified()) {
		return o.dropped(slot, dropSpoofedARP, dirFrom)
	}
	if binary.BigEndian.Uint16(a[6:8]) != frames.ARPOpRequest || target == m.ep.IP {
		return o.passed(slot, dirFrom)
	}
	if target != m.ep.Gateway {
		peer := m.w.endpoint(target)
		if peer == nil {
			return o.dropped(slot, dropUnknownNeigh, dirFrom)
		}
		if peer.Network != m.ep.Network {
			return o.dropped(slot, dropOtherNetwork, dirFrom)
		}
	}
	// "target is at the gateway's MAC", back to the asker.
	o.step("arp-reply")
	setMAC(o.out, 0, frame[6:12])
	setMAC(o.out, 6, m.ep.GatewayMAC)
	r := o.out[frames.EthLen:]
	binary.BigEndian.PutUint16(r[6:8], frames.ARPOpReply)
	copy(r[8:14], m.ep.GatewayMAC)
	copy(r[14:18], a[24:28])
	copy(r[18:24], a[8:14])
	copy(r[24:28], a[14:18])
	return o.count(slot, dirFrom).redirected()
}

func (m *containerModel) ipv4(o *outcome, frame []byte) *outcome {
	slot := m.ep.Slot
	if len(frame) < frames.EthLen+frames.IPv4Len || isMalformed(frame) {
		return o.dropped(slot, dropMalformed, dirFrom)
	}
	p := readIPv4(m.w, frame)
	if p.src != m.ep.IP {
		return o.dropped(slot, dropSpoofedIP, dirFrom)
	}
	if peer := m.w.endpoint(p.dst); peer != nil {
		if m.ep.PublishesPorts {
			if r := m.replyThroughHost(o, frame, p, peer); r != nil {
				return r
			}
		}
		switch {
		case peer.Network != m.ep.Network:
			return o.dropped(slot, dropOtherNetwork, dirFrom)
		case m.ep.ICCDisabled:
			return o.dropped(slot, dropICCDisabled, dirFrom)
		}
		return m.toPeer(o, peer)
	}
	switch {
	case m.ep.Internal:
		if !m.ep.Subnet.Contains(p.dst) {
			return o.dropped(slot, dropInternal, dirFrom)
		}
	case p.hasFlow:
		m.w.recordFrag(p)
		return m.beyondNetwork(o, p)
	default:
		if p.proto == protoICMP {
			if r := m.icmpErrorOut(o, frame); r != nil {
				return r
			}
		}
		if res, uplink, _, _ := route(p.dst); !m.ep.NoMasquerade && res != fibLocal && uplink {
			return o.dropped(slot, dropUntranslatable, dirFrom) // it would leave with the container's address
		}
	}
	return o.passed(slot, dirFrom)
}

// toPeer hands the frame, untouched, to a container of the instance.
func (m *containerModel) toPeer(o *outcome, peer *loader.Endpoint) *outcome {
	return o.count(m.ep.Slot, dirFrom).count(peer.Slot, dirTo).redirected()
}

// replyThroughHost: a reply from a published port (or an ICMP error about
// a flow that came in that way) to a container that came in through a
// host address goes back from that address and port. A TCP segment
// between peers looks at unconfirmed flows only when it has SYN, RST or
// FIN (a handshake's reply, or the end of the flow). nil: not such a packet.
func (m *containerModel) replyThroughHost(o *outcome, frame []byte, p l4, peer *loader.Endpoint) *outcome {
	if p.hasFlow {
		m.w.recordFrag(p)
		e, ok := m.w.established(p)
		if !ok && (p.proto != protoTCP || p.tcpFlags&(frames.TCPSYN|frames.TCPRST|frames.TCPFIN) != 0) {
			e, ok = m.w.unconfirmed(p)
		}
		if !ok || e.kind != dnatReply {
			return nil
		}
		if !o.nat(p, true, e.nat) {
			return o.dropped(m.ep.Slot, dropMalformed, dirFrom)
		}
		return m.toPeer(o, peer)
	}
	if p.proto != protoICMP {
		return nil
	}
	e, ok := m.errorFlow(frame)
	if !ok || e.kind != dnatReply {
		return nil
	}
	err, _ := readICMPError(frame)
	o.natError(err, false, e.nat)
	return m.toPeer(o, peer)
}

// errorFlow finds the translated flow (published or masqueraded) an ICMP
// error the container sends is about: the quote is a packet the container
// received, not ICMP; the flow is its reverse. An error is no sign of
// life: both tables count, neither is refreshed.
func (m *containerModel) errorFlow(frame []byte) (ctFlow, bool) {
	err, ok := readICMPError(frame)
	if !ok || err.proto == protoICMP || err.dst.Addr() != m.ep.IP {
		return ctFlow{}, false
	}
	e, ok := m.w.flow(err.proto, err.dst, err.src)
	if !ok || (e.kind != dnatReply && e.kind != snatOrig) {
		return ctFlow{}, false
	}
	return e, true
}

// icmpErrorOut translates and routes out an ICMP error about a translated
// flow to another host, so that it names the addresses the other end
// used. nil: not such an error, or it does not leave; the host takes it.
func (m *containerModel) icmpErrorOut(o *outcome, frame []byte) *outcome {
	e, ok := m.errorFlow(frame)
	if !ok {
		return nil
	}
	err, _ := readICMPError(frame)
	res, _, dmac, smac := route(err.outerDst)
	if res == fibLocal || frame[ipTTLOff] <= 1 {
		return nil
	}
	o.decTTL()
	o.natError(err, false, e.nat)
	return m.sendRouted(o, res, dmac, smac)
}

// sendRouted sends a packet the datapath routed itself out of the device
// the host's routes chose: with the neighbour's MAC when known, through
// the kernel's neighbour resolution (MACs untouched) when not.
func (m *containerModel) sendRouted(o *outcome, res fibResult, dmac, smac []byte) *outcome {
	o.step(map[fibResult]string{fibRouted: "routed", fibNoNeigh: "neigh"}[res])
	if res == fibRouted {
		setMAC(o.out, 0, dmac)
		setMAC(o.out, 6, smac)
	}
	return o.count(m.ep.Slot, dirFrom).redirected()
}

// beyondNetwork handles a flow to anything but an endpoint: the host
// itself (and its published ports), or another host.
func (m *containerModel) beyondNetwork(o *outcome, p l4) *outcome {
	if p.dst == m.ep.Gateway {
		return m.hairpin(o, p) // the host's address: no route asked
	}
	res, uplink, dmac, smac := route(p.dst)
	if res == fibLocal {
		return m.hairpin(o, p)
	}
	return m.routeOut(o, p, res, uplink, dmac, smac)
}

// hairpin: a flow to a published port of the host goes to the container
// behind it (to the sender itself from the gateway's address, which its
// replies come back to), unless it is a UDP reply to a host process
// bound to that port (toHost, made by toContainer); anything else for the
// host goes to the host.
func (m *containerModel) hairpin(o *outcome, p l4) *outcome {
	slot := m.ep.Slot
	var e ctFlow
	known := false
	if m.ep.PublishesPorts {
		if e, known = m.w.established(p); known && e.kind == hairpinSelf {
			return m.hairpinReply(o, p, e)
		}
	}
	var t netip.AddrPort
	var ok bool
	if p.dst == m.ep.Gateway {
		// The host's address, whatever bpfnet_host_ips says.
		t, ok = m.w.publishedOn(p.dst, p.dport, p.proto)
	} else {
		t, ok = m.w.published(p.dst, p.dport, p.proto)
	}
	if !ok {
		if m.ep.PublishesPorts {
			if e, ok := m.w.unconfirmed(p); ok && e.kind == hairpinSelf {
				return m.hairpinReply(o, p, e)
			}
		}
		return o.passed(slot, dirFrom)
	}
	if p.proto == protoUDP {
		if !known && !m.ep.PublishesPorts {
			e, known = m.w.established(p)
		}
		if !known {
			e, known = m.w.unconfirmed(p)
		}
		if known && e.kind == toHost {
			return o.passed(slot, dirFrom)
		}
	}
	// The flow's reply entry is kept; a TCP segment other than a SYN
	// starts no flow: with no entry it is the reply of a connection a
	// host process made from a port that happens to be published.
	keeps := func(replySrc, replyDst netip.AddrPort, kind bpf.CtKind) bool {
		if m.w.refresh(p, replySrc, replyDst, kind, p.dstAP(), 0) {
			return true
		}
		if p.proto == protoTCP && p.tcpFlags&(frames.TCPSYN|frames.TCPACK) != frames.TCPSYN {
			return false
		}
		m.w.create(p, replySrc, replyDst, kind, p.dstAP(), 0)
		return true
	}
	if t.Addr() == m.ep.IP {
		// Its replies come to the gateway's address.
		if !keeps(t, ap(m.ep.Gateway, p.sport), hairpinSelf) {
			return o.passed(slot, dirFrom)
		}
		if !o.nat(p, true, ap(m.ep.Gateway, p.sport)) {
			return o.dropped(slot, dropMalformed, dirFrom)
		}
		p.src = m.ep.Gateway
		o.nat(p, false, t)
		setMAC(o.out, 0, m.ep.MAC)
		return o.count(slot, dirFrom).count(slot, dirTo).redirected()
	}
	peer := m.w.endpoint(t.Addr())
	if peer == nil {
		return o.dropped(slot, dropNotPublished, dirFrom)
	}
	if !keeps(t, p.srcAP(), dnatReply) {
		return o.passed(slot, dirFrom)
	}
	if !o.nat(p, false, t) {
		return o.dropped(slot, dropMalformed, dirFrom)
	}
	setMAC(o.out, 0, peer.MAC)
	return m.toPeer(o, peer)
}

// hairpinReply turns the container's reply to itself (to the gateway)
// back into one from the published port, to itself.
func (m *containerModel) hairpinReply(o *outcome, p l4, e ctFlow) *outcome {
	if !o.nat(p, true, e.nat) {
		return o.dropped(m.ep.Slot, dropMalformed, dirFrom)
	}
	p.src, p.sport = e.nat.Addr(), e.nat.Port()
	o.nat(p, false, ap(m.ep.IP, p.dport))
	return o.count(m.ep.Slot, dirFrom).count(m.ep.Slot, dirTo).redirected()
}

// routeOut: a flow the host forwards. Through an uplink it leaves
// translated (masqueraded, or from its published port for a reply),
// routed by the datapath with the TTL decremented; otherwise, or with
// TTL 1 (the host answers "time exceeded"), the host routes it.
func (m *containerModel) routeOut(o *outcome, p l4, res fibResult, uplink bool, dmac, smac []byte) *outcome {
	slot := m.ep.Slot
	if p.ttl <= 1 {
		return o.passed(slot, dirFrom)
	}
	translated := func(nat netip.AddrPort) *outcome {
		o.decTTL()
		if !o.nat(p, true, nat) {
			return o.dropped(slot, dropMalformed, dirFrom)
		}
		return m.sendRouted(o, res, dmac, smac)
	}
	if e, ok := m.w.established(p); ok && (e.kind == dnatReply || e.kind == snatOrig) {
		return translated(e.nat)
	}
	if m.ep.NoMasquerade {
		// A flow routed as it is, established: its reply entry is refreshed.
		if i := m.w.entry(p.proto, p.dstAP(), p.srcAP(), false); i >= 0 && m.w.ct[i].life > 0 && m.w.ct[i].kind == routedReply {
			m.w.touch(i, p)
			return o.passed(slot, dirFrom)
		}
	}
	if e, ok := m.w.unconfirmed(p); ok && (e.kind == dnatReply || e.kind == snatOrig) {
		return translated(e.nat)
	}
	if !uplink {
		return o.passed(slot, dirFrom) // routed as it is
	}
	if m.ep.NoMasquerade {
		// Routed as it is; the uplink lets in the replies it knows.
		m.w.keep(p, p.dstAP(), p.srcAP(), routedReply, p.srcAP(), 0)
		return o.passed(slot, dirFrom)
	}
	pureSYN := p.proto == protoTCP && p.tcpFlags&(frames.TCPSYN|frames.TCPACK) == frames.TCPSYN
	if m.ep.PublishesPorts && !pureSYN {
		// No state, from a port a port is published to: a reply whose flow
		// lost its state leaves from the published port, never from a guess.
		if host, ok, unique := m.w.publishedAs(p.srcAP(), p.proto); ok {
			if !unique {
				m.w.ctStats[bpf.CtStatCT_STAT_NO_FLOW]++
				return o.dropped(slot, dropNoFlow, dirFrom)
			}
			m.w.ctStats[bpf.CtStatCT_STAT_RESTORED]++
			m.w.create(p, p.srcAP(), p.dstAP(), dnatReply, host, 0)
			m.w.unconfirmed(p) // this packet is the flow's reply
			return translated(host)
		}
	}
	echoReply := p.proto == protoICMP && !p.laterFrag && p.icmpType == frames.ICMPEchoReply
	if p.proto == protoTCP && !pureSYN || echoReply {
		// Mid-flow with no state, or an echo reply to no request: a new
		// port would be a wrong translation.
		m.w.ctStats[bpf.CtStatCT_STAT_NO_FLOW]++
		return o.dropped(slot, dropNoFlow, dirFrom)
	}
	// A free port of the masquerade range, which the program picks at
	// random: no live entry holds the reply tuple it makes.
	port := uint16(0)
	if m.pick != nil {
		port = m.pick(p.proto, p.srcAP(), p.dstAP())
	}
	if int(port) < snatFirst || m.w.inUse(p.proto, p.dstAP(), ap(m.w.uplinkIP, port)) {
		port = 0
	}
	nat := ap(m.w.uplinkIP, port)
	m.w.create(p, p.dstAP(), nat, snatReply, p.srcAP(), 0)
	m.w.create(p, p.srcAP(), p.dstAP(), snatOrig, nat, 0)
	return translated(nat)
}

// toContainer: the host sends a container of an internal network only
// what comes from its subnet. A UDP datagram to the container from a port
// published on the sending host address (a host process bound to it)
// keeps its reply tuple as toHost, which hairpin reads.
func (m *containerModel) toContainer(frame []byte) *outcome {
	o := result(frame)
	ipv4 := binary.BigEndian.Uint16(frame[12:14]) == frames.EtherIPv4
	if m.ep.Internal && ipv4 {
		if len(frame) < frames.EthLen+frames.IPv4Len {
			return o.dropped(m.ep.Slot, dropMalformed, dirTo)
		}
		src := netip.AddrFrom4([4]byte(frame[ipSrcOff : ipSrcOff+4]))
		if !m.ep.Subnet.Contains(src) {
			return o.dropped(m.ep.Slot, dropInternal, dirTo)
		}
	}
	if ipv4 && len(frame) >= frames.EthLen+frames.IPv4Len && !isMalformed(frame) {
		p := readIPv4(m.w, frame)
		if p.proto == protoUDP && p.dst == m.ep.IP && !p.laterFrag && p.hasFlow {
			if _, ok := m.w.published(p.src, p.sport, protoUDP); ok {
				m.w.keep(p, p.dstAP(), p.srcAP(), toHost, p.srcAP(), 0)
			}
		}
	}
	return o.passed(m.ep.Slot, dirTo)
}
