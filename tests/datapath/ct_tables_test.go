package datapath

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// ctStats reads the instance's connection tracking counters by name.
func ctStats(t *testing.T, d *loader.Datapath) map[string]uint64 {
	t.Helper()
	cs, err := d.ConntrackCounters()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, c := range cs {
		out[c.Name] = c.Value
	}
	return out
}

// checkCTStats compares every counter with want (unlisted: 0).
func checkCTStats(t *testing.T, d *loader.Datapath, want map[string]uint64) {
	t.Helper()
	got := ctStats(t, d)
	for name, n := range got {
		if n != want[name] {
			t.Errorf("conntrack counter %s = %d, want %d", name, n, want[name])
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("no conntrack counter %s", name)
		}
	}
}

// flows is a fixture where A publishes 8080 -> 80 and masquerades
// through up0, with helpers that complete handshakes.
type flows struct {
	f *natFixture
	h *hostNetns
	a *loader.EndpointPrograms
}

// published completes a handshake from client:cport to hostIP:8080 and
// returns the client's ACK, a packet of the established flow.
func (w flows) published(t *testing.T, cport uint16) packet {
	t.Helper()
	syn := fromWire(protoTCP, "192.0.2.1", 8080)
	syn.src = ap(client, cport)
	checkCtx(t, w.f.uplink, syn.frame(), w.h.ctxUplink(), verdictRedirect)
	synAck := fromA(protoTCP, 80, syn.src, tcpSYN|tcpACK)
	checkCtx(t, w.a.FromContainer, synAck.frame(), w.h.ctxA(), verdictRedirect)
	ack := syn.acks(synAck)
	checkCtx(t, w.f.uplink, ack.frame(), w.h.ctxUplink(), verdictRedirect)
	return ack
}

// masqueraded completes a handshake of A from sport to client:7000 and
// returns A's ACK and the port the flow got.
func (w flows) masqueraded(t *testing.T, sport uint16) (packet, uint16) {
	t.Helper()
	syn := fromA(protoTCP, sport, ap(client, 7000), tcpSYN)
	port := masqueraded(t, w.h, w.a, syn)
	synAck := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, port),
		proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
	checkCtx(t, w.f.uplink, synAck.frame(), w.h.ctxUplink(), verdictRedirect)
	ack := syn.acks(synAck)
	masqueraded(t, w.h, w.a, ack)
	return ack, port
}

// still checks that packets of established flows are translated as before:
// a client's ACK to the published port, A's reply, A's masqueraded ACK and
// the remote's reply to it.
func (w flows) still(t *testing.T, pub []packet, masq []packet, ports []uint16) {
	t.Helper()
	for _, p := range pub {
		out := checkCtx(t, w.f.uplink, p.frame(), w.h.ctxUplink(), verdictRedirect)
		checkFrame(t, out, *delivered(p, epA, 80))
		r := fromA(protoTCP, 80, p.src, tcpACK)
		out = checkCtx(t, w.a.FromContainer, r.frame(), w.h.ctxA(), verdictRedirect)
		checkFrame(t, out, routed(r, 8080))
	}
	for i, p := range masq {
		if got := masqueraded(t, w.h, w.a, p); got != ports[i] {
			t.Errorf("established flow from %v left from port %d, it had %d", p.src, got, ports[i])
		}
		back := packet{dstMAC: upMAC, srcMAC: clientMAC, src: p.dst, dst: ap(hostIP, ports[i]), proto: protoTCP, tcpFlags: tcpACK}
		out := checkCtx(t, w.f.uplink, back.frame(), w.h.ctxUplink(), verdictRedirect)
		checkFrame(t, out, *delivered(back, epA, p.src.Port()))
	}
}

func newFlows(t *testing.T, entries uint32) flows {
	t.Helper()
	f := newNATSized(t, loader.Sizes{ConntrackEntries: entries})
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80))
	return flows{f: f, h: h}
}

func (w *flows) load(t *testing.T) {
	publishes := epA
	publishes.PublishesPorts = true
	w.a = load(t, w.f.d, publishes)
}

// TestFloodKeepsEstablished: with a 64-entry table, 10 masqueraded and 5
// published flows are established (25 entries); then 1,000 forged SYNs
// from the wire to the published port, 300 forged ACKs, and 300 new flows
// of A that get no answer. Every established flow keeps its entry and its
// translation, and the counters tell what happened.
func TestFloodKeepsEstablished(t *testing.T) {
	w := newFlows(t, 64)
	w.h.do(t, func() {
		w.load(t)
		var pub, masq []packet
		var ports []uint16
		for i := range 5 {
			pub = append(pub, w.published(t, uint16(41000+i)))
		}
		for i := range 10 {
			p, port := w.masqueraded(t, uint16(50000+i))
			masq, ports = append(masq, p), append(ports, port)
		}
		established := w.f.readCT(t)
		if len(established) != 25 {
			t.Fatalf("%d entries after 15 handshakes, want 25: %v", len(established), established)
		}

		// The forged sources are routed out of up0, as a default route would.
		forged := &netlink.Route{Dst: &net.IPNet{IP: net.IP{198, 18, 0, 0}, Mask: net.CIDRMask(15, 32)},
			Gw: client.AsSlice(), LinkIndex: w.h.up0}
		if err := netlink.RouteAdd(forged); err != nil {
			t.Fatalf("route the forged sources: %v", err)
		}
		for i := range 1000 {
			syn := fromWire(protoTCP, "192.0.2.1", 8080)
			syn.src = ap(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i))
			checkCtx(t, w.f.uplink, syn.frame(), w.h.ctxUplink(), verdictRedirect)
			if i < 300 {
				// A answers; the forger never sees the SYN-ACK, so it
				// cannot ACK it.
				synAck := fromA(protoTCP, 80, syn.src, tcpSYN|tcpACK)
				synAck.seq = 0x50000000 + uint32(i)<<12
				checkCtx(t, w.a.FromContainer, synAck.frame(), w.h.ctxA(), verdictRedirect)
				checkCtx(t, w.f.uplink, syn.acks(syn).frame(), w.h.ctxUplink(), verdictRedirect)
			}
		}
		for i := range 300 {
			syn := fromA(protoTCP, uint16(20000+i), ap(client, uint16(1000+i)), tcpSYN)
			checkCtx(t, w.a.FromContainer, syn.frame(), w.h.ctxA(), verdictRedirect)
		}

		got := map[string]ctFlow{}
		for _, e := range w.f.readCT(t) {
			if !e.unconfirmed {
				got[e.String()] = e
			}
		}
		for _, e := range established {
			if _, ok := got[e.String()]; !ok {
				t.Errorf("established entry gone after the flood: %v", e)
			}
		}
		if len(got) != len(established) {
			t.Errorf("%d established entries after the flood, want %d", len(got), len(established))
		}
		w.still(t, pub, masq, ports)
		checkCTStats(t, w.f.d, map[string]uint64{
			"NEW":       5 + 2*10 + 1000 + 2*300, // an entry per published flow, two per masqueraded one
			"CONFIRMED": 15,
		})
	})
}

// TestConntrackFull: a 64-entry table full of established flows refuses a
// 65th (counted TABLE_FULL), which keeps working unconfirmed; once the
// sweep finds an expired entry (its clock moved through the map), the
// next packet of the new flow confirms it in that slot (RECLAIMED).
func TestConntrackFull(t *testing.T) {
	w := newFlows(t, 64)
	w.h.do(t, func() {
		w.load(t)
		var pub []packet
		for i := range 64 {
			pub = append(pub, w.published(t, uint16(41000+i)))
		}
		late := w.published(t, 42000)
		entry := pending(dnatEntry(late, epA, 80, uint32(w.h.up0), ctSYN))
		entry.seen = true
		if e := w.find(t, entry); e == nil || !e.unconfirmed {
			t.Fatalf("65th flow in a full table: %v, want it unconfirmed", e)
		}
		w.still(t, append(pub, late), nil, nil)
		stats := ctStats(t, w.f.d)
		if stats["CONFIRMED"] != 64 || stats["TABLE_FULL"] == 0 || stats["RECLAIMED"] != 0 {
			t.Errorf("counters %v: want 64 confirmed, some table full, none reclaimed", stats)
		}

		// Expire the entry in the slot the hand tries next.
		var sw bpf.CtSweep
		if err := w.f.maps[bpf.ContainerMapBpfnetCtSweep].Lookup(uint32(0), &sw); err != nil {
			t.Fatal(err)
		}
		var key bpf.CtKey
		if err := w.f.maps[bpf.ContainerMapBpfnetCtRing].Lookup(uint32(sw.Hand%uint64(sw.Size)), &key); err != nil {
			t.Fatal(err)
		}
		var e bpf.CtEntry
		if err := w.f.maps[bpf.ContainerMapBpfnetCt].Lookup(key, &e); err != nil {
			t.Fatalf("the ring's next slot holds no entry: %v", err)
		}
		e.Expires = 1
		if err := w.f.maps[bpf.ContainerMapBpfnetCt].Put(key, &e); err != nil {
			t.Fatal(err)
		}
		checkCtx(t, w.f.uplink, late.frame(), w.h.ctxUplink(), verdictRedirect)
		if e := w.find(t, entry); e == nil || e.unconfirmed {
			t.Errorf("65th flow after an entry expired: %v, want it established", e)
		}
		if n := len(w.f.readCT(t)); n != 64 {
			t.Errorf("%d entries, want 64", n)
		}
		stats = ctStats(t, w.f.d)
		if stats["CONFIRMED"] != 65 || stats["RECLAIMED"] != 1 {
			t.Errorf("counters %v: want 65 confirmed, 1 reclaimed", stats)
		}
	})
}

// find returns the entry with c's tuple in either table.
func (w flows) find(t *testing.T, c ctFlow) *ctFlow {
	t.Helper()
	for _, e := range w.f.readCT(t) {
		if e.key() == c.key() {
			return &e
		}
	}
	return nil
}

// TestConfirmNeedsTheReply: the originator confirms a TCP flow only with an
// ACK of what the reply sent; a SYN-ACK is no confirmation, nor is an ACK
// before any reply, nor one of the wrong sequence number.
func TestConfirmNeedsTheReply(t *testing.T) {
	w := newFlows(t, 0)
	w.h.do(t, func() {
		w.load(t)
		syn := fromWire(protoTCP, "192.0.2.1", 8080)
		entry := pending(dnatEntry(syn, epA, 80, uint32(w.h.up0), ctSYN))
		checkCtx(t, w.f.uplink, syn.frame(), w.h.ctxUplink(), verdictRedirect)
		early := syn.acks(syn) // what a forger can send: ACK of its own guess
		checkCtx(t, w.f.uplink, early.frame(), w.h.ctxUplink(), verdictRedirect)
		w.f.checkCT(t, entry)

		synAck := fromA(protoTCP, 80, syn.src, tcpSYN|tcpACK)
		synAck.seq = 0x40000000
		checkCtx(t, w.a.FromContainer, synAck.frame(), w.h.ctxA(), verdictRedirect)
		entry.seen = true
		for _, bad := range []uint32{0x40000000, 0x40000000 + 17, 0x3fffffff, 0x0a0b0c0d} {
			p := syn.acks(synAck)
			p.ack = bad
			checkCtx(t, w.f.uplink, p.frame(), w.h.ctxUplink(), verdictRedirect)
			w.f.checkCT(t, entry)
		}
		checkCtx(t, w.f.uplink, syn.acks(synAck).frame(), w.h.ctxUplink(), verdictRedirect)
		entry.unconfirmed, entry.seen, entry.life = false, false, ctTCP
		w.f.checkCT(t, entry)
	})
}

// TestConntrackTimeouts runs each kind of flow through its life, moving
// the clock by rewriting an entry's deadline through the map: ICMP echo
// and UDP live 60 s before and after a reply; an unconfirmed TCP flow 60 s,
// an established one 6 h, 10 s after FIN; a reply that comes after its
// flow expired is never translated (a half-open flow's SYN-ACK goes to the
// host's stack, which resets it).
func TestConntrackTimeouts(t *testing.T) {
	w := newFlows(t, 0)
	w.h.do(t, func() {
		w.load(t)
		// ICMP echo: the identifier is masqueraded like a port.
		ping := ether(gw1MAC, epA.MAC, etherIPv4, ipv4(epA.IP, client, protoICMP, icmpEcho(7, 1, []byte("ping"))))
		out := checkCtx(t, w.a.FromContainer, ping, w.h.ctxA(), verdictRedirect)
		id := uint16(out[ethLen+ipv4Len+4])<<8 | uint16(out[ethLen+ipv4Len+5])
		orig := pending(ctFlow{proto: protoICMP, src: ap(epA.IP, 7), dst: ap(client, 0), kind: snatOrig, nat: ap(hostIP, id), life: ctUDP})
		reply := pending(ctFlow{proto: protoICMP, src: ap(client, 0), dst: ap(hostIP, id), kind: snatReply, nat: ap(epA.IP, 7), life: ctUDP})
		w.f.checkCT(t, orig, reply)
		pong := icmpEcho(id, 1, []byte("ping"))
		pong[0], pong[2], pong[3] = 0, 0, 0
		csum := checksum(pong)
		pong[2], pong[3] = byte(csum>>8), byte(csum)
		in := ether(upMAC, clientMAC, etherIPv4, ipv4(client, hostIP, protoICMP, pong))
		checkCtx(t, w.f.uplink, in, w.h.ctxUplink(), verdictRedirect)
		orig.unconfirmed, reply.unconfirmed = false, false
		w.f.checkCT(t, orig, reply)
		// The reply's deadline passes: the next reply is not translated.
		reply.life = 0
		w.f.putCT(t, reply)
		checkUnchanged(t, in, checkCtx(t, w.f.uplink, in, w.h.ctxUplink(), verdictOK))

		// A half-open masqueraded flow past its 60 s: the SYN-ACK is
		// not translated.
		syn := fromA(protoTCP, 50001, ap(client, 7000), tcpSYN)
		hport := masqueraded(t, w.h, w.a, syn)
		halfOrig, half := snatPair(syn, hport, 0)
		halfOrig, half = pending(halfOrig), pending(half)
		w.f.putCT(t, half)
		synAck := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, hport),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
		checkUnchanged(t, synAck.frame(), checkCtx(t, w.f.uplink, synAck.frame(), w.h.ctxUplink(), verdictOK))
		halfOrig.life = ctSYN

		// Established 6 h; FIN: 10 s.
		ack, port := w.masqueraded(t, 50000)
		eo, er := snatPair(ack, port, ctTCP)
		fin := ack
		fin.tcpFlags = tcpFIN | tcpACK
		masqueraded(t, w.h, w.a, fin)
		eo.closing, eo.life = true, ctClosing
		w.f.checkCT(t, orig, reply, halfOrig, half, eo, er)
		checkCTStats(t, w.f.d, map[string]uint64{"NEW": 2 + 2 + 2, "CONFIRMED": 2, "NO_FLOW": 2})
		n := uint64(len(syn.frame()))
		checkCounters(t, w.f.d, map[uint32]loader.Counters{epA.Slot: {
			RxPackets: 2, RxBytes: uint64(len(in)) + n,
			TxPackets: 5, TxBytes: uint64(len(ping)) + 4*n,
		}})
	})
}

// TestFlushNeverMistranslates: after a flush, a published port's reply
// (server speaks next) leaves from the published address and port, as the
// port map says, and its flow starts over; with two mappings to the port
// there is no telling which, so it is dropped and counted. A masqueraded
// flow's segments without state are dropped (A) or left to the host's
// stack, which resets them (the remote): never sent from a new port.
func TestFlushNeverMistranslates(t *testing.T) {
	for _, proto := range []uint8{protoTCP, protoUDP} {
		t.Run(fmt.Sprintf("published port, protocol %d", proto), func(t *testing.T) {
			w := newFlows(t, 0)
			w.f.publish(t, mapping("", 5353, protoUDP, epA, 53))
			w.h.do(t, func() {
				w.load(t)
				cport, aport, hport := uint16(41000), uint16(80), uint16(8080)
				if proto == protoUDP {
					aport, hport = 53, 5353
					q := fromWire(protoUDP, "192.0.2.1", hport)
					q.src = ap(client, cport)
					checkCtx(t, w.f.uplink, q.frame(), w.h.ctxUplink(), verdictRedirect)
					checkCtx(t, w.a.FromContainer, fromA(protoUDP, aport, q.src, 0).frame(), w.h.ctxA(), verdictRedirect)
				} else {
					w.published(t, cport)
				}
				if _, err := w.f.d.FlushConntrack(); err != nil {
					t.Fatal(err)
				}
				r := fromA(proto, aport, ap(client, cport), tcpACK)
				out := checkCtx(t, w.a.FromContainer, r.frame(), w.h.ctxA(), verdictRedirect)
				checkFrame(t, out, routed(r, hport))
				entry := pending(ctFlow{proto: proto, src: r.src, dst: r.dst, kind: dnatReply, nat: ap(hostIP, hport), life: ctSYN, seen: true})
				if proto == protoUDP {
					entry.unconfirmed, entry.seen, entry.life = false, false, ctUDP // a reply confirms UDP
				}
				w.f.checkCT(t, entry)
				if got := ctStats(t, w.f.d)["RESTORED"]; got != 1 {
					t.Errorf("RESTORED = %d, want 1", got)
				}

				// A second mapping to the same port: the reply is dropped.
				w.f.publish(t, mapping("", hport+1, proto, epA, aport))
				if _, err := w.f.d.FlushConntrack(); err != nil {
					t.Fatal(err)
				}
				checkCtx(t, w.a.FromContainer, r.frame(), w.h.ctxA(), verdictShot)
				w.f.checkCT(t)
				if err := w.f.d.UnpublishPort(mapping("", hport+1, proto, epA, aport)); err != nil {
					t.Fatal(err)
				}
				out = checkCtx(t, w.a.FromContainer, r.frame(), w.h.ctxA(), verdictRedirect)
				checkFrame(t, out, routed(r, hport))
			})
		})
	}
	t.Run("masqueraded flow", func(t *testing.T) {
		w := newFlows(t, 0)
		w.h.do(t, func() {
			w.load(t)
			ack, port := w.masqueraded(t, 50000)
			if _, err := w.f.d.FlushConntrack(); err != nil {
				t.Fatal(err)
			}
			in := ack.frame()
			checkUnchanged(t, in, checkCtx(t, w.a.FromContainer, in, w.h.ctxA(), verdictShot))
			back := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ack.dst, dst: ap(hostIP, port), proto: protoTCP, tcpFlags: tcpACK}
			checkUnchanged(t, back.frame(), checkCtx(t, w.f.uplink, back.frame(), w.h.ctxUplink(), verdictOK))
			w.f.checkCT(t)
			checkCTStats(t, w.f.d, map[string]uint64{"NEW": 2, "CONFIRMED": 1, "NO_FLOW": 2})
		})
	})
}
