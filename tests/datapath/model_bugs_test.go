package datapath

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// TestEchoReplyWithoutRequestDropped: an ICMP echo reply a container sends
// to another host with no request on record answers nothing this host
// saw. It must not start a masqueraded flow: its flow key has the
// requester's identifier as the destination port and no port of the
// responder, so any new source "port" lands on the identifier. It is
// dropped and counted as a reply without state (NO_FLOW), as a TCP
// segment in the middle of an unknown flow is. Found by the fuzz test:
// the program wrote the new port over the identifier and left the ICMP
// checksum off by the old one.
func TestEchoReplyWithoutRequestDropped(t *testing.T) {
	fx := newFuzzFixture(t)
	reply := frames.IPv4{Src: epA.IP, Dst: client, Proto: protoICMP}.Packet(
		frames.ICMPEcho(frames.ICMPEchoReply, 0x1b58, 1, []byte("pong")))
	frame := frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, reply)
	got, err := fx.run(t, fx.variants[0].progs.FromContainer, fx.h.ctxA(), frame)
	if err != nil {
		t.Fatal(err)
	}
	if got.verdict != verdictShot {
		t.Fatalf("verdict %s: want the reply dropped", verdictName(got.verdict))
	}
	if n := got.moved.drops[dropCount{epA.Slot, dropNoFlow, dirFrom}]; n != 1 {
		t.Errorf("NO_FLOW drops from A: %d, want 1 (drops: %v)", n, got.moved.drops)
	}
	if n := got.moved.ctStats[bpf.CtStatCT_STAT_NO_FLOW]; n != 1 {
		t.Errorf("conntrack NO_FLOW count rose by %d, want 1", n)
	}
	// The model agrees, and the request's direction still starts a
	// masqueraded flow.
	request := frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, frames.IPv4{Src: epA.IP, Dst: client, Proto: protoICMP}.Packet(
		frames.ICMPEcho(frames.ICMPEchoRequest, 0x1b58, 1, []byte("ping"))))
	for _, f := range [][]byte{frame, request} {
		path, diff, err := checkFromContainer(t, fx, 0, f)
		if err != nil || diff != "" {
			t.Fatalf("the program and the model differ: %s %v", diff, err)
		}
		t.Logf("model path: %s", path)
	}
}

// TestHostPortRepliesNotHairpinned: a host process whose own port happens
// to be a published one (bound to it, or drawn from the ephemeral range
// that -P ports come from too) connects to a container; the container's
// SYN-ACK goes to that port on a host address. It is a reply for the host
// stack, not a new connection to the published port: before the fix it
// was hairpinned into the port's container (the sender itself, or a peer)
// and the host's connection never completed. A SYN to the same port, the
// control, still is hairpinned; the model agrees on all of them.
func TestHostPortRepliesNotHairpinned(t *testing.T) {
	fx := newFuzzFixture(t)
	segment := func(dst netip.Addr, dport uint16, flags uint8) []byte {
		tcp := frames.SetL4Checksum(epA.IP, dst, protoTCP, frames.TCP(80, dport, flags, 1000, 2000, nil))
		return frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, frames.IPv4{Src: epA.IP, Dst: dst, Proto: protoTCP}.Packet(tcp))
	}
	for _, c := range []struct {
		name    string
		frame   []byte
		verdict uint32
	}{
		{"SYN-ACK to the gateway's port 9090 (published to B)", segment(gw1, peerPort, frames.TCPSYN|frames.TCPACK), verdictOK},
		{"SYN-ACK to the host's port 8080 (published to A itself)", segment(hostIP, webPort, frames.TCPSYN|frames.TCPACK), verdictOK},
		{"ACK to the gateway's port 9090", segment(gw1, peerPort, frames.TCPACK), verdictOK},
		{"control: SYN to the gateway's port 9090", segment(gw1, peerPort, frames.TCPSYN), verdictRedirect},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Program and model run the frame; they agree, so the
			// model's verdict is the program's.
			path, diff, err := checkFromContainer(t, fx, 0, c.frame)
			if err != nil || diff != "" {
				t.Fatalf("the program and the model differ: %s %v", diff, err)
			}
			if !strings.HasPrefix(path, verdictName(c.verdict)) {
				t.Errorf("went %q, want %s", path, verdictName(c.verdict))
			}
		})
	}
}

// TestUDPHostPortRepliesNotHairpinned is TestHostPortRepliesNotHairpinned
// for UDP, which has no SYN to tell a new flow from a reply: a host
// process bound to a port that is also published (udpPeer, to B; dnsPort,
// to A itself) sends A a datagram, and A's answer to that port must reach
// the process. Before the fix both were hairpinned into the port's
// container. bpfnet_to_container keeps the reply tuple (CT_TO_HOST) when
// the host sends from such a port; a datagram to the port that answers
// nothing the host sent, the control, still is hairpinned. Program and
// model agree on every step.
func TestUDPHostPortRepliesNotHairpinned(t *testing.T) {
	fx := newFuzzFixture(t)
	udp := func(src, dst netip.AddrPort) []byte {
		seg := frames.SetL4Checksum(src.Addr(), dst.Addr(), protoUDP, frames.UDP(src.Port(), dst.Port(), []byte("q")))
		ip := frames.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: protoUDP}.Packet(seg)
		if src.Addr() == epA.IP {
			return frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, ip)
		}
		return frames.Ether(epA.MAC, gw1MAC, frames.EtherIPv4, ip)
	}
	steps := []struct {
		name    string
		frame   []byte
		check   func(testing.TB, *fuzzFixture, int, []byte) (string, string, error)
		verdict uint32
	}{
		{"control: A to the gateway's port 9053 (published to B)", udp(ap(epA.IP, 6001), ap(gw1, udpPeer)), checkFromContainer, verdictRedirect},
		{"a host process on the gateway's port 9053 to A", udp(ap(gw1, udpPeer), ap(epA.IP, 6000)), checkToContainer, verdictOK},
		{"A's answer to it", udp(ap(epA.IP, 6000), ap(gw1, udpPeer)), checkFromContainer, verdictOK},
		{"a host process on the host's port 5353 (published to A) to A", udp(ap(hostIP, dnsPort), ap(epA.IP, 6002)), checkToContainer, verdictOK},
		{"A's answer to it", udp(ap(epA.IP, 6002), ap(hostIP, dnsPort)), checkFromContainer, verdictOK},
		{"A's second answer (the entry confirmed)", udp(ap(epA.IP, 6002), ap(hostIP, dnsPort)), checkFromContainer, verdictOK},
	}
	for _, variant := range []int{0, 1} { // A publishing ports, and not
		fx.reset(t)
		for _, c := range steps {
			path, diff, err := c.check(t, fx, variant, c.frame)
			if err != nil || diff != "" {
				t.Fatalf("%s, %s: the program and the model differ: %s %v", fx.variants[variant].name, c.name, diff, err)
			}
			if !strings.HasPrefix(path, verdictName(c.verdict)) {
				t.Errorf("%s, %s: went %q, want %s", fx.variants[variant].name, c.name, path, verdictName(c.verdict))
			}
		}
	}
}
