package datapath

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/loader"
)

// TestConntrackAPI creates entries with the uplink program and by hand,
// then checks what loader's Conntrack lists (live entries only, with their
// kinds) and what FlushConntrack removes (only entries naming the address).
func TestConntrackAPI(t *testing.T) {
	f := newNAT(t)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80), mapping("", 5353, protoUDP, epB, 53))
	toA := fromWire(protoTCP, "192.0.2.1", 8080)
	toB := fromWire(protoUDP, "192.0.2.1", 5353)
	toB.src = ap(client, 40001)
	check(t, f.uplink, toA.frame(), verdictRedirect)
	check(t, f.uplink, toB.frame(), verdictRedirect)
	nat := ap(hostIP, 61000)
	f.putCT(t, ctFlow{proto: protoTCP, src: ap(epA.IP, 50000), dst: ap(elsewhere, 443), kind: snatOrig, nat: nat,
		closing: true, life: ctClosing})
	f.putCT(t, ctFlow{proto: protoTCP, src: ap(elsewhere, 443), dst: nat, kind: snatReply, nat: ap(epA.IP, 50000),
		closing: true, life: ctClosing})
	expired := ctFlow{proto: protoUDP, src: ap(epC.IP, 5000), dst: ap(elsewhere, 53), kind: snatOrig, nat: ap(hostIP, 62000)}
	f.putCT(t, expired)

	flows, err := f.d.Conntrack()
	if err != nil {
		t.Fatal(err)
	}
	want := []loader.Flow{
		{Proto: protoTCP, Src: ap(epA.IP, 80), Dst: toA.src, Kind: "dnat-reply", NAT: toA.dst, ExpiresIn: ctSYN, UplinkIfindex: loIfindex},
		{Proto: protoUDP, Src: ap(epB.IP, 53), Dst: toB.src, Kind: "dnat-reply", NAT: toB.dst, ExpiresIn: ctUDP, UplinkIfindex: loIfindex},
		{Proto: protoTCP, Src: ap(epA.IP, 50000), Dst: ap(elsewhere, 443), Kind: "snat-orig", NAT: nat, Closing: true, Established: true, ExpiresIn: ctClosing},
		{Proto: protoTCP, Src: ap(elsewhere, 443), Dst: nat, Kind: "snat-reply", NAT: ap(epA.IP, 50000), Closing: true, Established: true, ExpiresIn: ctClosing},
	}
	checkFlows(t, flows, want)

	flush := func(ip netip.Addr, n int) {
		t.Helper()
		var ips []netip.Addr
		if ip.IsValid() {
			ips = append(ips, ip)
		}
		got, err := f.d.FlushConntrack(ips...)
		if err != nil {
			t.Fatalf("flush %v: %v", ip, err)
		}
		if got != n {
			t.Errorf("flush %v removed %d entries, want %d", ip, got, n)
		}
	}
	// A is in the DNAT entry's and the SNAT entries' tuples, and the SNAT
	// reply's translation.
	flush(epA.IP, 3)
	f.checkCT(t, pending(ctFlow{proto: protoUDP, src: ap(epB.IP, 53), dst: toB.src, kind: dnatReply, nat: toB.dst,
		ifindex: loIfindex, life: ctUDP}), expired)
	flush(client, 1)
	f.checkCT(t, expired)
	flush(netip.Addr{}, 1)
	f.checkCT(t)
}

// checkFlows compares Conntrack's listing with want, in any order; an
// ExpiresIn must be at most want's and a few seconds less at worst.
func checkFlows(t *testing.T, got, want []loader.Flow) {
	t.Helper()
	key := func(f loader.Flow) string { return f.Src.String() + ">" + f.Dst.String() }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, func(a, b loader.Flow) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(want, func(a, b loader.Flow) int { return strings.Compare(key(a), key(b)) })
	if len(got) != len(want) {
		t.Fatalf("conntrack lists %d flows, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ExpiresIn > w.ExpiresIn || g.ExpiresIn <= w.ExpiresIn-10*time.Second {
			t.Errorf("flow %v > %v expires in %v, want %v", g.Src, g.Dst, g.ExpiresIn, w.ExpiresIn)
		}
		g.ExpiresIn = w.ExpiresIn
		if g != w {
			t.Errorf("conntrack flow:\n got %+v\nwant %+v", g, w)
		}
	}
}

// TestConntrackExpired writes entries whose deadline has passed: the
// datapath treats each as absent and leaves it as it was.
func TestConntrackExpired(t *testing.T) {
	t.Run("masquerade reply on the uplink", func(t *testing.T) {
		f := newNAT(t)
		reply := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, 61234),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
		entry := ctFlow{proto: protoTCP, src: reply.src, dst: reply.dst, kind: snatReply, nat: ap(epA.IP, 50000)}
		f.putCT(t, entry)
		in := reply.frame()
		out := check(t, f.uplink, in, verdictOK)
		checkUnchanged(t, in, out)
		f.checkCT(t, entry)
		checkCounters(t, f.d, nil)
	})
	t.Run("published port reply from the container", func(t *testing.T) {
		f := newNAT(t)
		publishesB := epB
		publishesB.PublishesPorts = true
		b := load(t, f.d, publishesB)
		synAck := packet{dstMAC: epA.MAC, srcMAC: epB.MAC, src: ap(epB.IP, 80), dst: ap(epA.IP, 50000),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
		entry := ctFlow{proto: protoTCP, src: synAck.src, dst: synAck.dst, kind: dnatReply, nat: ap(hostIP, 8080)}
		f.putCT(t, entry)
		in := synAck.frame()
		out := check(t, b.FromContainer, in, verdictRedirect)
		checkUnchanged(t, in, out)
		f.checkCT(t, entry)
		checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: received(in), epB.Slot: sent(in)})
	})
	t.Run("published port entry of an old target", func(t *testing.T) {
		f := newNAT(t)
		f.publish(t, mapping("", 8080, protoTCP, epA, 80))
		syn := fromWire(protoTCP, "192.0.2.1", 8080)
		stale := dnatEntry(syn, epA, 80, 0, 0)
		stale.nat = ap(hostIP2, 9999)
		f.putCT(t, stale)
		out := check(t, f.uplink, syn.frame(), verdictRedirect)
		checkFrame(t, out, *delivered(syn, epA, 80))
		// The stale entry is expired: the sweep reclaims it; the flow
		// starts unconfirmed.
		f.checkCT(t, stale, pending(dnatEntry(syn, epA, 80, loIfindex, ctSYN)))
		flows, err := f.d.Conntrack()
		if err != nil {
			t.Fatal(err)
		}
		if len(flows) != 1 {
			t.Errorf("conntrack lists %d flows, want 1: %+v", len(flows), flows)
		}
	})
}

// TestUntranslatedLeavesNoState sends packets that the datapath does not
// translate after all: they must leave no connection tracking entry, or
// each holds a masquerade port or a stale translation for its lifetime.
func TestUntranslatedLeavesNoState(t *testing.T) {
	t.Run("published port of a missing endpoint", func(t *testing.T) {
		f := newNAT(t)
		f.publish(t, mapping("", 8080, protoTCP, loader.Endpoint{IP: unknown}, 80))
		in := fromWire(protoTCP, "192.0.2.1", 8080).frame()
		out := check(t, f.uplink, in, verdictShot)
		checkUnchanged(t, in, out)
		f.checkCT(t)
		checkCounters(t, f.d, map[uint32]loader.Counters{0: dropped("NOT_PUBLISHED", toContainer)})
	})
	t.Run("masquerade with ttl 1", func(t *testing.T) {
		f := newNAT(t)
		h := newHostNetns(t, f)
		h.do(t, func() {
			a := load(t, f.d, epA)
			syn := fromA(protoTCP, 50000, ap(client, 7000), tcpSYN)
			syn.ttl = 1
			in := syn.frame()
			out := checkCtx(t, a.FromContainer, in, h.ctxA(), verdictOK)
			checkUnchanged(t, in, out)
			f.checkCT(t)
			checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: sent(in)})
		})
	})
}
