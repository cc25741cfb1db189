package datapath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/loader"
)

// fragmentCut is where datagrams are cut in two: past the UDP header, a
// multiple of 8 as fragment offsets are.
const fragmentCut = 64

var bigPayload = make([]byte, 150)

// udpFragments is a UDP datagram src -> dst with a checksum over all of
// it, as two frames: the first fragment (header and the start of the
// payload, MF set) and the rest.
func udpFragments(dstMAC, srcMAC net.HardwareAddr, src, dst netip.AddrPort, ttl uint8) [2][]byte {
	seg := udp(src.Port(), dst.Port(), bigPayload)
	binary.BigEndian.PutUint16(seg[6:8], l4Checksum(src.Addr(), dst.Addr(), protoUDP, seg))
	var frames [2][]byte
	for i, part := range [][]byte{seg[:fragmentCut], seg[fragmentCut:]} {
		ip := ipv4(src.Addr(), dst.Addr(), protoUDP, part)
		flags := uint16(0x2000) // more fragments
		if i == 1 {
			flags = fragmentCut / 8
		}
		binary.BigEndian.PutUint16(ip[6:8], flags)
		if ttl != 0 {
			ip[8] = ttl
		}
		binary.BigEndian.PutUint16(ip[10:12], 0)
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ipv4Len]))
		frames[i] = ether(dstMAC, srcMAC, etherIPv4, ip)
	}
	return frames
}

func sameFrame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if string(got) != string(want) {
		t.Errorf("%s:\n got % x\nwant % x", what, got, want)
	}
}

// TestUplinkFragments: the reply of a masqueraded flow in two fragments
// reaches the container whole: the first fragment gets address, port and
// checksum, the second (found through the first) its address. A second
// fragment that comes before its first is left to the host.
func TestUplinkFragments(t *testing.T) {
	f := newNAT(t)
	reply := ap(client, 53)
	f.putCT(t, ctFlow{proto: protoUDP, src: reply, dst: ap(hostIP, 64999), kind: snatReply, nat: ap(epA.IP, 5000), life: 5 * time.Second})

	lost := udpFragments(upMAC, clientMAC, ap(client, 54), ap(hostIP, 64999), 0)
	checkUnchanged(t, lost[1], check(t, f.uplink, lost[1], verdictOK))

	in := udpFragments(upMAC, clientMAC, reply, ap(hostIP, 64999), 0)
	want := udpFragments(epA.MAC, clientMAC, reply, ap(epA.IP, 5000), 0)
	for i := range in {
		sameFrame(t, []string{"first fragment", "second fragment"}[i], check(t, f.uplink, in[i], verdictRedirect), want[i])
	}
	checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: {RxPackets: 2, RxBytes: uint64(len(in[0]) + len(in[1]))}})
}

// TestContainerFragments: a datagram A sends in two fragments leaves
// masqueraded as one flow, both fragments from the same address and the
// first with the port the flow got.
func TestContainerFragments(t *testing.T) {
	f := newNAT(t)
	h := newHostNetns(t, f)
	h.do(t, func() {
		a := load(t, f.d, epA)
		in := udpFragments(gw1MAC, epA.MAC, ap(epA.IP, 5000), ap(client, 53), 0)
		first := checkCtx(t, a.FromContainer, in[0], h.ctxA(), verdictRedirect)
		port := frameSrc(first).Port()
		want := udpFragments(clientMAC, upMAC, ap(hostIP, port), ap(client, 53), 63)
		sameFrame(t, "first fragment", first, want[0])
		sameFrame(t, "second fragment", checkCtx(t, a.FromContainer, in[1], h.ctxA(), verdictRedirect), want[1])
		orig, back := snatPair(packet{src: ap(epA.IP, 5000), dst: ap(client, 53), proto: protoUDP}, port, ctUDP)
		f.checkCT(t, pending(orig), pending(back))
	})
}
