package datapath

import (
	"net"
	"net/netip"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// The frames of these tests are built by package frames, the one builder
// of every test; the short names below keep the tests readable.

// Ethertypes, IP protocols and ARP fields the frames below use.
const (
	etherIPv4 = frames.EtherIPv4
	etherARP  = frames.EtherARP
	etherIPv6 = frames.EtherIPv6
	etherRaw  = 0x88b5 // IEEE 802 local experimental ethertype 1

	protoICMP = frames.ProtoICMP
	protoUDP  = frames.ProtoUDP

	arpHwEther   = frames.ARPHwEther
	arpOpRequest = frames.ARPOpRequest
	arpOpReply   = frames.ARPOpReply

	ethLen = frames.EthLen
	arpLen = frames.ARPLen
	minEth = frames.MinEth // shortest Ethernet frame without FCS: ARP is padded to it
)

var broadcastMAC = frames.Broadcast

// ether returns an Ethernet frame around payload.
func ether(dst, src net.HardwareAddr, proto uint16, payload []byte) []byte {
	return frames.Ether(dst, src, proto, payload)
}

// pad extends a frame with zeros to the Ethernet minimum, as a NIC would.
func pad(frame []byte) []byte { return frames.Pad(frame) }

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 { return frames.Checksum(b) }

// ipv4 returns an IPv4 packet without options (identification 0x1234,
// don't fragment, TTL 64), with a correct header checksum, around payload.
func ipv4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	return frames.IPv4{Src: src, Dst: dst, Proto: proto, ID: 0x1234, Frag: frames.IPv4DF}.Packet(payload)
}

// udp returns a UDP datagram; a zero checksum means none in IPv4.
func udp(srcPort, dstPort uint16, payload []byte) []byte {
	return frames.UDP(srcPort, dstPort, payload)
}

// icmpEcho returns an ICMP echo request with a correct checksum.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	return frames.ICMPEcho(frames.ICMPEchoRequest, id, seq, payload)
}

// arp returns an ARP packet; hwType other than 1 makes a non-Ethernet one.
func arp(hwType, op uint16, senderMAC net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) []byte {
	return frames.ARP(hwType, op, senderMAC, senderIP, targetMAC, targetIP)
}

// The frames an endpoint sends, as a container's kernel would build them.

// udpFrame is a UDP datagram from src to dst, from srcMAC to dstMAC.
func udpFrame(src, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr) []byte {
	return ether(dstMAC, srcMAC, etherIPv4, ipv4(src, dst, protoUDP, udp(40000, 53, []byte("bpfnet datapath test"))))
}

// pingFrame is an ICMP echo request from src to dst.
func pingFrame(src, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr) []byte {
	return ether(dstMAC, srcMAC, etherIPv4, ipv4(src, dst, protoICMP, icmpEcho(7, 1, []byte("ping"))))
}

// arpRequest is a broadcast "who has target? tell sender", padded to 60 bytes.
func arpRequest(senderMAC net.HardwareAddr, senderIP, target netip.Addr) []byte {
	return pad(ether(broadcastMAC, senderMAC, etherARP,
		arp(arpHwEther, arpOpRequest, senderMAC, senderIP, make(net.HardwareAddr, 6), target)))
}
