package datapath

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Ethertypes, IP protocols and ARP fields the frames below use.
const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherIPv6 = 0x86dd
	etherRaw  = 0x88b5 // IEEE 802 local experimental ethertype 1

	protoICMP = 1
	protoUDP  = 17

	arpHwEther   = 1
	arpOpRequest = 1
	arpOpReply   = 2

	ethLen = 14
	arpLen = 28
	minEth = 60 // shortest Ethernet frame without FCS: ARP is padded to it
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ether returns an Ethernet frame around payload.
func ether(dst, src net.HardwareAddr, proto uint16, payload []byte) []byte {
	b := make([]byte, ethLen, ethLen+len(payload))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], proto)
	return append(b, payload...)
}

// pad extends a frame with zeros to the Ethernet minimum, as a NIC would.
func pad(frame []byte) []byte {
	for len(frame) < minEth {
		frame = append(frame, 0)
	}
	return frame
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ipv4 returns an IPv4 packet without options, with a correct header
// checksum, around payload.
func ipv4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45 // version 4, 5 words of header
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[4:6], 0x1234) // identification
	binary.BigEndian.PutUint16(b[6:8], 0x4000) // don't fragment
	b[8] = 64                                  // TTL
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], checksum(b))
	return append(b, payload...)
}

// udp returns a UDP datagram; a zero checksum means none in IPv4.
func udp(srcPort, dstPort uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(8+len(payload)))
	return append(b, payload...)
}

// icmpEcho returns an ICMP echo request with a correct checksum.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[2:4], checksum(b))
	return b
}

// arp returns an ARP packet; hwType other than 1 makes a non-Ethernet one.
func arp(hwType, op uint16, senderMAC net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) []byte {
	b := make([]byte, arpLen)
	binary.BigEndian.PutUint16(b[0:2], hwType)
	binary.BigEndian.PutUint16(b[2:4], etherIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], op)
	copy(b[8:14], senderMAC)
	s, t := senderIP.As4(), targetIP.As4()
	copy(b[14:18], s[:])
	copy(b[18:24], targetMAC)
	copy(b[24:28], t[:])
	return b
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
