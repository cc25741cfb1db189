package datapath

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/loader"
)

// TestHairpin sends from A to a published port on an address of the host
// (the uplink's, the gateway's): A's program rewrites the destination to
// B's port and hands it to B, leaving a reply entry; B's answer, with
// PublishesPorts, goes back to A from the address A used.
func TestHairpin(t *testing.T) {
	for _, tt := range []struct {
		name string
		dst  netip.Addr
	}{
		{"via the uplink's address", hostIP},
		{"via the gateway's address", gw1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			h := newHostNetns(t, f)
			f.publish(t, mapping("", 8080, protoTCP, epB, 80))
			publishesB := epB
			publishesB.PublishesPorts = true
			h.do(t, func() {
				a := load(t, f.d, epA)
				b := load(t, f.d, publishesB)
				syn := fromA(protoTCP, 50000, ap(tt.dst, 8080), tcpSYN)
				out := checkCtx(t, a.FromContainer, syn.frame(), h.ctxA(), verdictRedirect)
				checkFrame(t, out, *delivered(syn, epB, 80))
				entry := pending(ctFlow{proto: protoTCP, src: ap(epB.IP, 80), dst: syn.src, kind: dnatReply,
					nat: ap(tt.dst, 8080), life: ctSYN})
				f.checkCT(t, entry)

				synAck := packet{dstMAC: epA.MAC, srcMAC: epB.MAC, src: ap(epB.IP, 80), dst: syn.src,
					proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
				out = check(t, b.FromContainer, synAck.frame(), verdictRedirect)
				want := synAck
				want.src = ap(tt.dst, 8080)
				checkFrame(t, out, want)
				entry.seen = true // still 60 s: the handshake is not complete
				f.checkCT(t, entry)

				// A's ACK of the SYN-ACK confirms the flow.
				ack := syn.acks(want)
				out = checkCtx(t, a.FromContainer, ack.frame(), h.ctxA(), verdictRedirect)
				checkFrame(t, out, *delivered(ack, epB, 80))
				entry.unconfirmed, entry.seen, entry.life = false, false, ctTCP
				f.checkCT(t, entry)
				n := uint64(len(syn.frame()))
				checkCounters(t, f.d, map[uint32]loader.Counters{
					epA.Slot: {TxPackets: 2, TxBytes: 2 * n, RxPackets: 1, RxBytes: n},
					epB.Slot: {RxPackets: 2, RxBytes: 2 * n, TxPackets: 1, TxBytes: n},
				})
			})
		})
	}
}

// TestHairpinFlowCloses: A's FIN to B's published port marks the reply
// entry closing, and A's ACK after it keeps it so (refreshed in place, not
// written anew with a 6 h life). No reply: the flow stays unconfirmed.
func TestHairpinFlowCloses(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epB, 80))
	h.do(t, func() {
		a := load(t, f.d, epA)
		syn := fromA(protoTCP, 50000, ap(hostIP, 8080), tcpSYN)
		entry := pending(ctFlow{proto: protoTCP, src: ap(epB.IP, 80), dst: syn.src, kind: dnatReply, nat: ap(hostIP, 8080)})
		for _, step := range []struct {
			flags   uint8
			closing bool
			life    time.Duration
		}{{tcpSYN, false, ctSYN}, {tcpACK, false, ctSYN}, {tcpFIN | tcpACK, true, ctClosing}, {tcpACK, true, ctClosing}} {
			p := syn
			p.tcpFlags = step.flags
			checkCtx(t, a.FromContainer, p.frame(), h.ctxA(), verdictRedirect)
			entry.closing, entry.life = step.closing, step.life
			f.checkCT(t, entry)
		}
	})
}

// TestHairpinReplyWithoutPublishesPorts: B's programs without
// PublishesPorts do not look up reply entries, so even with one in place
// B's answer goes to A as B sent it.
func TestHairpinReplyWithoutPublishesPorts(t *testing.T) {
	f := newNAT(t)
	b := load(t, f.d, epB)
	synAck := packet{dstMAC: epA.MAC, srcMAC: epB.MAC, src: ap(epB.IP, 80), dst: ap(epA.IP, 50000),
		proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
	entry := ctFlow{proto: protoTCP, src: synAck.src, dst: synAck.dst, kind: dnatReply, nat: ap(hostIP, 8080), life: ctSYN}
	f.putCT(t, entry)
	in := synAck.frame()
	out := check(t, b.FromContainer, in, verdictRedirect)
	checkUnchanged(t, in, out)
	f.checkCT(t, entry)
	checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: received(in), epB.Slot: sent(in)})
}

// TestPublishesPortsAtRunTime: the flag lives in bpfnet_endpoint_state, so
// B's loaded programs start and stop translating its replies when the
// control plane flips it, with no reload (what publishing a first port, or
// removing the last, relies on).
func TestPublishesPortsAtRunTime(t *testing.T) {
	f := newNAT(t)
	b := load(t, f.d, epB)
	synAck := packet{dstMAC: epA.MAC, srcMAC: epB.MAC, src: ap(epB.IP, 80), dst: ap(epA.IP, 50000),
		proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
	f.putCT(t, ctFlow{proto: protoTCP, src: synAck.src, dst: synAck.dst, kind: dnatReply, nat: ap(hostIP, 8080), life: ctSYN})
	in := synAck.frame()
	checkUnchanged(t, in, check(t, b.FromContainer, in, verdictRedirect))

	if err := f.d.SetPublishesPorts(epB.Slot, true); err != nil {
		t.Fatal(err)
	}
	want := synAck
	want.src = ap(hostIP, 8080)
	checkFrame(t, check(t, b.FromContainer, in, verdictRedirect), want)

	if err := f.d.SetPublishesPorts(epB.Slot, false); err != nil {
		t.Fatal(err)
	}
	checkUnchanged(t, in, check(t, b.FromContainer, in, verdictRedirect))
}

// TestHairpinNotPublished sends from A to host addresses where nothing
// answers: each goes to the host stack untouched.
func TestHairpinNotPublished(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ports []loader.Port
		dst   netip.AddrPort
	}{
		{"port not published", nil, ap(hostIP, 8080)},
		{"port published on another address", []loader.Port{mapping("192.0.2.3", 8080, protoTCP, epB, 80)}, ap(hostIP, 8080)},
		{"port published for udp", []loader.Port{mapping("", 8080, protoUDP, epB, 80)}, ap(hostIP, 8080)},
		{"loopback", []loader.Port{mapping("127.0.0.1", 8080, protoTCP, epB, 80)}, ap(loopback, 8080)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			h := newHostNetns(t, f)
			f.publish(t, tt.ports...)
			h.do(t, func() {
				a := load(t, f.d, epA)
				in := fromA(protoTCP, 50000, tt.dst, tcpSYN).frame()
				out := checkCtx(t, a.FromContainer, in, h.ctxA(), verdictOK)
				checkUnchanged(t, in, out)
				f.checkCT(t)
				checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: sent(in)})
			})
		})
	}
}

// TestHairpinToItself: A reaches its own published port through the
// host's address. Rewriting only the destination gives a packet from A's
// address to A's address, which A's kernel drops as a martian
// (fib_validate_source refuses a local source without accept_local).
// Docker masquerades this case; the source must not stay A's address.
func TestHairpinToItself(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80))
	h.do(t, func() {
		a := load(t, f.d, epA)
		syn := fromA(protoTCP, 50000, ap(hostIP, 8080), tcpSYN)
		out := checkCtx(t, a.FromContainer, syn.frame(), h.ctxA(), verdictRedirect)
		checkChecksums(t, out)
		if dst := frameDst(out); dst != ap(epA.IP, 80) {
			t.Errorf("destination %v, want %v", dst, ap(epA.IP, 80))
		}
		if src := frameSrc(out); src.Addr() == epA.IP {
			t.Errorf("source %v is A's own address, a martian for A", src)
		}
	})
}

// TestHairpinNoRoute sends from A to an address the host has no route to,
// on a port published on 0.0.0.0. bpf_fib_lookup answers NOT_FWDED for
// "no route" as for "local"; the address is not the host's, so the
// packet must not be translated (Docker DNATs only --dst-type LOCAL).
func TestHairpinNoRoute(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epB, 80))
	h.do(t, func() {
		a := load(t, f.d, epA)
		in := fromA(protoTCP, 50000, ap(elsewhere, 8080), tcpSYN).frame()
		out := checkCtx(t, a.FromContainer, in, h.ctxA(), verdictOK)
		checkUnchanged(t, in, out)
		f.checkCT(t)
		checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: sent(in)})
	})
}
