package datapath

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// loIfindex is the device a program runs on under BPF_PROG_TEST_RUN
// without a context: the namespace's loopback.
const loIfindex = 1

const (
	dnatReply   = bpf.CtKindCT_DNAT_REPLY
	snatOrig    = bpf.CtKindCT_SNAT_ORIG
	snatReply   = bpf.CtKindCT_SNAT_REPLY
	routedReply = bpf.CtKindCT_ROUTED_REPLY
)

// mapping publishes hostIP:hostPort/proto (hostIP "": every address) to
// ep's port.
func mapping(hostIP string, hostPort uint16, proto uint8, ep loader.Endpoint, port uint16) loader.Port {
	p := loader.Port{HostPort: hostPort, Proto: proto, ContainerIP: ep.IP, ContainerPort: port}
	if hostIP != "" {
		p.HostIP = netip.MustParseAddr(hostIP)
	}
	return p
}

// fromWire is a packet from client:40000 that reached the uplink for dst.
func fromWire(proto uint8, dst string, dport uint16) packet {
	return packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 40000),
		dst: ap(netip.MustParseAddr(dst), dport), proto: proto, tcpFlags: tcpSYN}
}

// delivered is in as the uplink hands it to ep's port: the destination and
// its MAC rewritten, nothing else (the client's address stays).
func delivered(in packet, ep loader.Endpoint, port uint16) *packet {
	in.dst, in.dstMAC = ap(ep.IP, port), ep.MAC
	return &in
}

// dnatEntry is the entry a published-port packet in leaves: ep's replies
// to the client get the address the client used as their source.
func dnatEntry(in packet, ep loader.Endpoint, port uint16, ifindex uint32, life time.Duration) ctFlow {
	return ctFlow{proto: in.proto, src: ap(ep.IP, port), dst: in.src, kind: dnatReply,
		nat: in.dst, ifindex: ifindex, life: life}
}

// TestUplinkPublishedPort runs bpfnet_from_uplink on packets from the wire
// to published ports: those it translates are rewritten to the container,
// redirected to it and leave a reply entry; the rest pass untouched.
func TestUplinkPublishedPort(t *testing.T) {
	syn := fromWire(protoTCP, "192.0.2.1", 8080)
	dgram := fromWire(protoUDP, "192.0.2.1", 5353)
	noCsum := dgram
	noCsum.noUDPChecksum = true
	toHost2 := fromWire(protoTCP, "192.0.2.3", 8080)
	toLoopback := fromWire(protoTCP, "127.0.0.1", 8080)

	anyToA := mapping("", 8080, protoTCP, epA, 80)
	hostToA := mapping("192.0.2.1", 8080, protoTCP, epA, 80)
	anyToB := mapping("0.0.0.0", 8080, protoTCP, epB, 80)
	loopToA := mapping("127.0.0.1", 8080, protoTCP, epA, 80)
	udpToA := mapping("", 5353, protoUDP, epA, 53)
	udpOn8080 := mapping("", 8080, protoUDP, epA, 80)

	tests := []struct {
		name    string
		ports   []loader.Port
		in      packet
		verdict uint32
		want    *packet // nil: unchanged
		ct      []ctFlow
		// counters by slot; slots not listed must stay at zero.
		counters map[uint32]loader.Counters
	}{
		{"tcp syn to 0.0.0.0 mapping", []loader.Port{anyToA}, syn, verdictRedirect,
			delivered(syn, epA, 80), []ctFlow{pending(dnatEntry(syn, epA, 80, loIfindex, ctSYN))},
			map[uint32]loader.Counters{epA.Slot: received(syn.frame())}},
		{"udp to 0.0.0.0 mapping", []loader.Port{udpToA}, dgram, verdictRedirect,
			delivered(dgram, epA, 53), []ctFlow{pending(dnatEntry(dgram, epA, 53, loIfindex, ctUDP))},
			map[uint32]loader.Counters{epA.Slot: received(dgram.frame())}},
		{"udp without checksum keeps none", []loader.Port{udpToA}, noCsum, verdictRedirect,
			delivered(noCsum, epA, 53), []ctFlow{pending(dnatEntry(noCsum, epA, 53, loIfindex, ctUDP))},
			map[uint32]loader.Counters{epA.Slot: received(noCsum.frame())}},
		{"mapping on the address wins over 0.0.0.0", []loader.Port{anyToB, hostToA}, syn, verdictRedirect,
			delivered(syn, epA, 80), []ctFlow{pending(dnatEntry(syn, epA, 80, loIfindex, ctSYN))},
			map[uint32]loader.Counters{epA.Slot: received(syn.frame())}},
		{"0.0.0.0 mapping answers another host address", []loader.Port{anyToB, hostToA}, toHost2, verdictRedirect,
			delivered(toHost2, epB, 80), []ctFlow{pending(dnatEntry(toHost2, epB, 80, loIfindex, ctSYN))},
			map[uint32]loader.Counters{epB.Slot: received(toHost2.frame())}},
		{"mapping on 127.0.0.1 does not answer the uplink's address", []loader.Port{loopToA}, syn, verdictOK,
			nil, nil, nil},
		{"forged packet to 127.0.0.1 with a 127.0.0.1 mapping", []loader.Port{loopToA}, toLoopback, verdictOK,
			nil, nil, nil},
		{"forged packet to 127.0.0.1 with a 0.0.0.0 mapping", []loader.Port{anyToA}, toLoopback, verdictOK,
			nil, nil, nil},
		{"tcp to a port published for udp", []loader.Port{udpOn8080}, syn, verdictOK, nil, nil, nil},
		{"udp to a port published for tcp", []loader.Port{anyToA}, fromWire(protoUDP, "192.0.2.1", 8080), verdictOK,
			nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			f.publish(t, tt.ports...)
			in := tt.in.frame()
			out := check(t, f.uplink, in, tt.verdict)
			if tt.want == nil {
				checkUnchanged(t, in, out)
			} else {
				checkFrame(t, out, *tt.want)
			}
			f.checkCT(t, tt.ct...)
			checkCounters(t, f.d, tt.counters)
		})
	}
}

// TestUplinkRoutedReply: with masquerading off, a reply to A's flow comes
// in addressed to A itself; its routed-reply entry lets it through to A
// untouched but for the MAC, where anything else to A is NOT_PUBLISHED.
func TestUplinkRoutedReply(t *testing.T) {
	f := newNAT(t)
	reply := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(epA.IP, 50000), proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
	entry := ctFlow{proto: protoTCP, src: reply.src, dst: reply.dst, kind: routedReply, nat: reply.dst, life: 5 * time.Second}
	f.putCT(t, entry)
	in := reply.frame()
	want := reply
	want.dstMAC = epA.MAC
	checkFrame(t, check(t, f.uplink, in, verdictRedirect), want)
	entry.life = ctTCP
	f.checkCT(t, entry)
	checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: received(in)})
}

// TestUplinkPublishedFlowCloses: the client's FIN marks the flow's entry
// closing, and the ACK after it keeps it so (the entry is refreshed, not
// written anew): a closed connection's entry lives 10 s, not 6 h. With no
// reply seen the flow stays unconfirmed: 60 s, never 6 h.
func TestUplinkPublishedFlowCloses(t *testing.T) {
	f := newNAT(t)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80))
	syn := fromWire(protoTCP, "192.0.2.1", 8080)
	fin, ack := syn, syn
	fin.tcpFlags, ack.tcpFlags = tcpFIN|tcpACK, tcpACK
	entry := pending(dnatEntry(syn, epA, 80, loIfindex, ctSYN))
	for _, step := range []struct {
		p       packet
		closing bool
		life    time.Duration
	}{{syn, false, ctSYN}, {ack, false, ctSYN}, {fin, true, ctClosing}, {ack, true, ctClosing}} {
		check(t, f.uplink, step.p.frame(), verdictRedirect)
		entry.closing, entry.life = step.closing, step.life
		f.checkCT(t, entry)
	}
}

// TestUplinkNotPublished runs bpfnet_from_uplink on packets that no
// mapping or flow lets in: to a container's own address they are dropped
// on that container's slot, to the host they pass untouched.
func TestUplinkNotPublished(t *testing.T) {
	toA := fromWire(protoTCP, "172.18.0.2", 80).frame()
	udpToA := fromWire(protoUDP, "172.18.0.2", 53).frame()
	pingA := ether(upMAC, clientMAC, etherIPv4, ipv4(client, epA.IP, protoICMP, icmpEcho(7, 1, []byte("ping"))))
	toHost := fromWire(protoTCP, "192.0.2.1", 22).frame()
	udpToHost := fromWire(protoUDP, "192.0.2.1", 53).frame()
	pingHost := ether(upMAC, clientMAC, etherIPv4, ipv4(client, hostIP, protoICMP, icmpEcho(7, 1, []byte("ping"))))
	arpHost := pad(ether(broadcastMAC, clientMAC, etherARP,
		arp(arpHwEther, arpOpRequest, clientMAC, client, make([]byte, 6), hostIP)))
	// A's port 80 is published as 8080: straight to 80 is still refused.
	published := []loader.Port{mapping("", 8080, protoTCP, epA, 80)}

	notPublished := map[uint32]loader.Counters{epA.Slot: dropped("NOT_PUBLISHED", toContainer)}
	tests := []struct {
		name     string
		ports    []loader.Port
		frame    []byte
		verdict  uint32
		counters map[uint32]loader.Counters
	}{
		{"tcp to a container", nil, toA, verdictShot, notPublished},
		{"udp to a container", nil, udpToA, verdictShot, notPublished},
		{"ping to a container", nil, pingA, verdictShot, notPublished},
		{"tcp to a container's published port, not via the host", published, toA, verdictShot, notPublished},
		{"tcp to the host, port not published", published, toHost, verdictOK, nil},
		{"udp to the host, port not published", published, udpToHost, verdictOK, nil},
		{"ping to the host", published, pingHost, verdictOK, nil},
		{"arp for the host", published, arpHost, verdictOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			f.publish(t, tt.ports...)
			out := check(t, f.uplink, tt.frame, tt.verdict)
			checkUnchanged(t, tt.frame, out)
			f.checkCT(t)
			checkCounters(t, f.d, tt.counters)
		})
	}
}

// TestUplinkNonLocalDestination sends packets to a published port number
// at addresses that are not the host's. A mapping on 0.0.0.0 means every
// address of the host (Docker DNATs only --dst-type LOCAL): a packet to a
// container's own address must not be translated to another container,
// and one the host merely routes must not be captured.
func TestUplinkNonLocalDestination(t *testing.T) {
	toB := fromWire(protoTCP, "172.18.0.3", 8080).frame()
	routed := fromWire(protoTCP, "198.51.100.7", 8080).frame()
	for _, tt := range []struct {
		name     string
		frame    []byte
		verdict  uint32
		counters map[uint32]loader.Counters
	}{
		{"to another container's address", toB, verdictShot,
			map[uint32]loader.Counters{epB.Slot: dropped("NOT_PUBLISHED", toContainer)}},
		{"routed through the host", routed, verdictOK, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			f.publish(t, mapping("", 8080, protoTCP, epA, 80))
			out := check(t, f.uplink, tt.frame, tt.verdict)
			checkUnchanged(t, tt.frame, out)
			f.checkCT(t)
			checkCounters(t, f.d, tt.counters)
		})
	}
}

// TestUplinkMasqueradeReply runs bpfnet_from_uplink on replies to flows A
// masqueraded, their reply entries written by hand: the destination goes
// back to A's address and port, and the entry is refreshed.
func TestUplinkMasqueradeReply(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply packet
		life  time.Duration // of the refreshed entry
	}{
		{"tcp syn-ack", packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, 61234),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK}, ctTCP},
		{"udp", packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 53), dst: ap(hostIP, 64999),
			proto: protoUDP}, ctUDP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			entry := ctFlow{proto: tt.reply.proto, src: tt.reply.src, dst: tt.reply.dst, kind: snatReply,
				nat: ap(epA.IP, 50000), life: 5 * time.Second}
			f.putCT(t, entry)
			in := tt.reply.frame()
			out := check(t, f.uplink, in, verdictRedirect)
			checkFrame(t, out, *delivered(tt.reply, epA, 50000))
			entry.life = tt.life
			f.checkCT(t, entry)
			checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: received(in)})
		})
	}
}
