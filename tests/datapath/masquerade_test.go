package datapath

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// fromA is a packet A sends from its port sport to dst through the gateway.
func fromA(proto uint8, sport uint16, dst netip.AddrPort, flags uint8) packet {
	return packet{dstMAC: gw1MAC, srcMAC: epA.MAC, src: ap(epA.IP, sport), dst: dst, proto: proto, tcpFlags: flags}
}

// routed is p as A's program sends it out of up0: source hostIP:port, TTL
// decremented, MACs from the neighbour entry.
func routed(p packet, port uint16) packet {
	p.src, p.ttl = ap(hostIP, port), 63
	p.srcMAC, p.dstMAC = upMAC, clientMAC
	return p
}

// snatPair is the two entries an established masqueraded flow p with
// source port port has, with the same life.
func snatPair(p packet, port uint16, life time.Duration) (orig, reply ctFlow) {
	nat := ap(hostIP, port)
	orig = ctFlow{proto: p.proto, src: p.src, dst: p.dst, kind: snatOrig, nat: nat, life: life}
	reply = ctFlow{proto: p.proto, src: p.dst, dst: nat, kind: snatReply, nat: p.src, life: life}
	return orig, reply
}

// ctx are the __sk_buff fields for A's program (on hostA) and the uplink's
// (on up0) in h.
func (h *hostNetns) ctxA() *skbContext {
	return &skbContext{IngressIfindex: uint32(h.hostA), Ifindex: uint32(h.hostA)}
}

func (h *hostNetns) ctxUplink() *skbContext {
	return &skbContext{IngressIfindex: uint32(h.up0), Ifindex: uint32(h.up0)}
}

// masqueraded runs A's program on p, which must leave masqueraded through
// up0, and returns the source port it got.
func masqueraded(t *testing.T, h *hostNetns, a *loader.EndpointPrograms, p packet) uint16 {
	t.Helper()
	out := checkCtx(t, a.FromContainer, p.frame(), h.ctxA(), verdictRedirect)
	port := frameSrc(out).Port()
	if int(port) < snatFirst {
		t.Errorf("masquerade port %d outside %d-%d", port, snatFirst, snatLast)
	}
	checkFrame(t, out, routed(p, port))
	return port
}

// TestMasquerade sends a TCP flow from A to a host behind the uplink: the
// first packet picks a port and leaves both entries, later packets keep
// it, the reply comes back through the uplink to A, a second flow gets
// another port and FIN shortens the flow's life.
func TestMasquerade(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	h.do(t, func() {
		a := load(t, f.d, epA)
		syn := fromA(protoTCP, 50000, ap(client, 7000), tcpSYN)
		port := masqueraded(t, h, a, syn)
		orig, reply := snatPair(syn, port, ctSYN)
		orig, reply = pending(orig), pending(reply)
		f.checkCT(t, orig, reply)

		if p := masqueraded(t, h, a, syn); p != port {
			t.Errorf("retransmitted SYN of the flow got port %d, the first %d", p, port)
		}
		f.checkCT(t, orig, reply)

		synAck := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, port),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK, seq: 0x77777777}
		out := checkCtx(t, f.uplink, synAck.frame(), h.ctxUplink(), verdictRedirect)
		checkFrame(t, out, *delivered(synAck, epA, 50000))
		reply.seen = true
		f.checkCT(t, orig, reply)

		// An ACK of something else confirms nothing; the SYN-ACK's does.
		ack := fromA(protoTCP, 50000, ap(client, 7000), tcpACK)
		if p := masqueraded(t, h, a, ack); p != port {
			t.Errorf("ACK of the flow got port %d, the SYN %d", p, port)
		}
		f.checkCT(t, orig, reply)
		if p := masqueraded(t, h, a, ack.acks(synAck)); p != port {
			t.Errorf("ACK of the flow got port %d, the SYN %d", p, port)
		}
		orig, reply = snatPair(syn, port, ctTCP)
		f.checkCT(t, orig, reply)

		other := fromA(protoTCP, 50001, ap(client, 7000), tcpSYN)
		otherPort := masqueraded(t, h, a, other)
		if otherPort == port {
			t.Errorf("two flows to %v share masquerade port %d", other.dst, port)
		}
		otherOrig, otherReply := snatPair(other, otherPort, ctSYN)
		otherOrig, otherReply = pending(otherOrig), pending(otherReply)
		f.checkCT(t, orig, reply, otherOrig, otherReply)

		fin := fromA(protoTCP, 50000, ap(client, 7000), tcpFIN|tcpACK)
		if p := masqueraded(t, h, a, fin); p != port {
			t.Errorf("FIN of the flow got port %d, want %d", p, port)
		}
		orig.closing, orig.life = true, ctClosing
		f.checkCT(t, orig, reply, otherOrig, otherReply)

		n := uint64(len(syn.frame()))
		checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: {
			RxPackets: 1, RxBytes: uint64(len(synAck.frame())), TxPackets: 6, TxBytes: 6 * n}})
	})
}

// TestMasqueradeUDP masquerades UDP with and without a checksum, which
// must stay absent, and a flow to a neighbour the host has not resolved,
// which leaves with bpf_redirect_neigh and its MACs untouched.
func TestMasqueradeUDP(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	h.do(t, func() {
		a := load(t, f.d, epA)
		dns := fromA(protoUDP, 5353, ap(client, 53), 0)
		port := masqueraded(t, h, a, dns)
		orig, reply := snatPair(dns, port, ctUDP)
		orig, reply = pending(orig), pending(reply)

		bare := fromA(protoUDP, 5354, ap(client, 53), 0)
		bare.noUDPChecksum = true
		barePort := masqueraded(t, h, a, bare)
		bareOrig, bareReply := snatPair(bare, barePort, ctUDP)
		bareOrig, bareReply = pending(bareOrig), pending(bareReply)

		unresolved := fromA(protoUDP, 5355, ap(noNeighbour, 53), 0)
		out := checkCtx(t, a.FromContainer, unresolved.frame(), h.ctxA(), verdictRedirect)
		p := frameSrc(out).Port()
		want := unresolved
		want.src, want.ttl = ap(hostIP, p), 63
		checkFrame(t, out, want)
		unOrig, unReply := snatPair(unresolved, p, ctUDP)
		unOrig, unReply = pending(unOrig), pending(unReply)
		f.checkCT(t, orig, reply, bareOrig, bareReply, unOrig, unReply)
	})
}

// TestMasqueradeNotApplied sends from A what route_out must leave to the
// host stack untranslated. Through an uplink, a network without masquerade
// leaves an entry that lets the replies in, untranslated.
func TestMasqueradeNotApplied(t *testing.T) {
	noMasq := epA
	noMasq.NoMasquerade = true
	syn := fromA(protoTCP, 50000, ap(client, 7000), tcpSYN)
	for _, tt := range []struct {
		name     string
		sender   loader.Endpoint
		unUplink bool // up0 not registered as an uplink
	}{
		{"network without masquerade", noMasq, false},
		{"route through a device that is no uplink", epA, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			h := newHostNetns(t, f)
			if tt.unUplink {
				if err := f.maps[bpf.ContainerMapBpfnetUplinks].Delete(uint32(h.up0)); err != nil {
					t.Fatal(err)
				}
			}
			h.do(t, func() {
				a := load(t, f.d, tt.sender)
				in := syn.frame()
				out := checkCtx(t, a.FromContainer, in, h.ctxA(), verdictOK)
				checkUnchanged(t, in, out)
				if tt.unUplink {
					f.checkCT(t)
				} else {
					f.checkCT(t, pending(ctFlow{proto: protoTCP, src: syn.dst, dst: syn.src, kind: routedReply,
						nat: syn.src, life: ctSYN}))
				}
				checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: sent(in)})
			})
		})
	}
}

// TestMasqueradePorts fills every masquerade port toward one remote
// address and port: a new flow there is dropped NAT_NO_PORT. Expired
// entries free their ports again, and a stale entry of the flow itself is
// not used.
func TestMasqueradePorts(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	syn := fromA(protoTCP, 50000, ap(client, 7000), tcpSYN)
	taken := func(port uint16, life time.Duration) ctFlow {
		return ctFlow{proto: protoTCP, src: syn.dst, dst: ap(hostIP, port), kind: snatReply,
			nat: ap(epB.IP, port), life: life}
	}
	// fill marks every port taken; all are the entries but port.
	all := func(life time.Duration, port uint16) (entries []ctFlow) {
		for p := snatFirst; p <= snatLast; p++ {
			if p != int(port) {
				entries = append(entries, taken(uint16(p), life))
			}
		}
		return entries
	}
	fill := func(life time.Duration) {
		for _, e := range all(life, 0) {
			f.putCT(t, e)
		}
	}
	h.do(t, func() {
		a := load(t, f.d, epA)
		fill(time.Minute)
		in := syn.frame()
		out := checkCtx(t, a.FromContainer, in, h.ctxA(), verdictShot)
		checkUnchanged(t, in, out)
		f.checkCT(t, all(time.Minute, 0)...)
		checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: dropped("NAT_NO_PORT", fromContainer)})

		fill(0)
		// A stale entry of the flow itself names a port outside the range.
		stale := ctFlow{proto: protoTCP, src: syn.src, dst: syn.dst, kind: snatOrig, nat: ap(hostIP, 1234)}
		f.putCT(t, stale)
		port := masqueraded(t, h, a, syn)
		orig, reply := snatPair(syn, port, ctSYN)
		// The expired entries stay for the sweep to reclaim.
		f.checkCT(t, append(all(0, 0), stale, pending(orig), pending(reply))...)
	})
}

// TestPublishedPortReply lets the uplink translate a connection to a
// published port of A; A's answer then leaves with the host's address and
// the published port as its source, and no masquerade entry.
func TestPublishedPortReply(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80))
	h.do(t, func() {
		a := load(t, f.d, epA)
		syn := fromWire(protoTCP, "192.0.2.1", 8080)
		out := checkCtx(t, f.uplink, syn.frame(), h.ctxUplink(), verdictRedirect)
		checkFrame(t, out, *delivered(syn, epA, 80))
		entry := pending(dnatEntry(syn, epA, 80, uint32(h.up0), ctSYN))
		f.checkCT(t, entry)

		synAck := fromA(protoTCP, 80, ap(client, 40000), tcpSYN|tcpACK)
		out = checkCtx(t, a.FromContainer, synAck.frame(), h.ctxA(), verdictRedirect)
		checkFrame(t, out, routed(synAck, 8080))
		entry.seen = true
		f.checkCT(t, entry)

		// The client's ACK of the SYN-ACK confirms the flow: 6 h.
		ack := syn.acks(synAck)
		out = checkCtx(t, f.uplink, ack.frame(), h.ctxUplink(), verdictRedirect)
		checkFrame(t, out, *delivered(ack, epA, 80))
		entry.unconfirmed, entry.seen, entry.life = false, false, ctTCP
		f.checkCT(t, entry)
		n := uint64(len(syn.frame()))
		checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: {
			RxPackets: 2, RxBytes: 2 * n, TxPackets: 1, TxBytes: n}})
	})
}
