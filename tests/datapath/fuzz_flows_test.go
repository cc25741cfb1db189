package datapath

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// TestFuzzFlows runs sessions of frames through A's container program and
// the uplink program without putting the world back in between, so that
// flows start, get their replies, confirm, close and start over across
// frames, as on a real host. Half the frames belong to the flows the
// model's entries say exist (either direction, TCP acknowledging what the
// other side sent, or not), half are TestFuzzModel's. Each frame is
// compared with the model, entries included; a session ends at its first
// mismatch, whose state the next frames would inherit.
func TestFuzzFlows(t *testing.T) {
	fx := newFuzzFixture(t)
	n := envInt(t, "BPFNET_FUZZ_FRAMES", 3000)
	seed := envInt(t, "BPFNET_FUZZ_SEED", uint64(time.Now().UnixNano()))
	t.Logf("seed %d (BPFNET_FUZZ_SEED=%d replays this run), %d frames", seed, seed, n)
	g := newFrameGen(seed ^ 0xf10f)
	const sessionLen = 24
	start := time.Now()
	var sent, refused, mismatches, sessions int
	paths := map[string]int{}
	for sent < int(n) {
		sessions++
		fx.reset(t)
		variant := oneOf(g, 0, 0, 1, 4) // publishing, not publishing, no masquerade
		for step := 0; step < sessionLen && sent < int(n); step++ {
			sent++
			prog, kind, frame := g.sessionFrame(fx.state)
			path, diff, err := prog.check(t, fx, variant, frame)
			if err == errRefused {
				refused++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			paths[prog.name+": "+path]++
			if diff == "" {
				continue
			}
			mismatches++
			if mismatches <= 5 {
				t.Errorf("%s (seed %d, session %d step %d, %s, variant %q): %s", prog.name, seed, sessions, step, kind,
					fx.variants[variant].name, diff)
			}
			break
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d frames mismatch the model (seed %d)", mismatches, sent-refused, seed)
	}
	t.Logf("%d frames in %d sessions, %d refused by the kernel, %d mismatches, %d paths, %v", sent, sessions,
		refused, mismatches, len(paths), time.Since(start).Round(time.Millisecond))
	if testing.Verbose() {
		for _, k := range slices.Sorted(maps.Keys(paths)) {
			t.Logf("  %6d  %s", paths[k], k)
		}
	}
}

// sessionFrame is a frame of one of the flows w's entries say exist, or
// one of the frames TestFuzzModel makes, and the program it goes to.
func (g *frameGen) sessionFrame(w *world) (fuzzProgram, string, []byte) {
	container, uplink := fuzzPrograms[0], fuzzPrograms[1]
	var live []ctFlow
	for _, c := range w.ct {
		if c.life > 0 {
			live = append(live, c)
		}
	}
	if len(live) == 0 || g.chance(50) {
		if g.chance(50) {
			kind, frame := g.fromContainer()
			return container, kind, frame
		}
		kind, frame := g.fromUplink()
		return uplink, kind, frame
	}
	e := live[g.pick(len(live))]
	// The packet the entry matches, or its flow's originator's.
	src, dst, fromA := e.src, e.dst, true
	switch e.kind {
	case snatReply, routedReply:
		fromA = false
	}
	kind := "flow entry"
	if g.chance(50) {
		kind = "flow originator"
		switch e.kind {
		case snatReply: // the masqueraded flow from A
			src, dst, fromA = e.nat, e.src, true
		case dnatReply: // the client to the published address (a peer's own program is not under test)
			if w.endpoint(e.dst.Addr()) == nil && e.dst.Addr() != gw1 {
				src, dst, fromA = e.dst, e.nat, false
			}
		case hairpinSelf: // A to its own published port
			src, dst = ap(e.src.Addr(), e.dst.Port()), e.nat
		case routedReply: // A's flow routed as it is
			src, dst, fromA = e.dst, e.src, true
		}
	}
	frame := g.flowPacket(w, e, src, dst, kind == "flow originator" || e.kind == snatOrig)
	if fromA {
		return container, kind, frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, frame)
	}
	return uplink, kind, frames.Ether(upMAC, clientMAC, frames.EtherIPv4, frame)
}

// flowPacket is a packet src -> dst of e's flow. From the originator, a
// TCP segment mostly acknowledges what the reply direction sent (which
// confirms the flow); an echo goes from the requester's side.
func (g *frameGen) flowPacket(w *world, e ctFlow, src, dst netip.AddrPort, origin bool) []byte {
	h := frames.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: e.proto, ID: g.u16()}
	switch e.proto {
	case protoTCP:
		flags := g.tcpFlags()
		seq, ack := g.r.Uint32(), g.r.Uint32()
		if origin && g.chance(70) {
			flags = oneOf[uint8](g, frames.TCPACK, frames.TCPACK, frames.TCPACK|frames.TCPFIN, frames.TCPACK|0x08)
			for _, c := range w.ct {
				if s, ok := w.seqs[c.key()]; ok && c.unconfirmed && c.proto == e.proto && (c.key() == e.key() ||
					c.src == e.dst && c.dst == e.nat || c.src == dst && c.dst == src) {
					ack = s.first + 1 + uint32(g.pick(int(max(1, s.end-s.first))))
				}
			}
		}
		seg := frames.TCP(src.Port(), dst.Port(), flags, seq, ack, g.payload())
		return h.Packet(frames.SetL4Checksum(src.Addr(), dst.Addr(), protoTCP, seg))
	case protoUDP:
		seg := frames.UDP(src.Port(), dst.Port(), g.payload())
		return h.Packet(frames.SetL4Checksum(src.Addr(), dst.Addr(), protoUDP, seg))
	}
	if src.Port() != 0 {
		return h.Packet(frames.ICMPEcho(frames.ICMPEchoRequest, src.Port(), g.u16(), g.payload()))
	}
	return h.Packet(frames.ICMPEcho(frames.ICMPEchoReply, dst.Port(), g.u16(), g.payload()))
}
