// Package frames builds Ethernet frames byte by byte for tests: Ethernet,
// 802.1Q tags, IPv4 (options and fragments included), TCP, UDP, ICMP and
// ARP. Every test that crafts a frame (tests/datapath, tests/e2e through
// testutil, the fuzz generator) builds it here, so a header is laid out in
// one place. Builders compute checksums unless a field says otherwise;
// callers that want a broken frame break it afterwards.
package frames

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Ethertypes.
const (
	EtherIPv4 = 0x0800
	EtherARP  = 0x0806
	EtherVLAN = 0x8100 // 802.1Q
	EtherQinQ = 0x88a8 // 802.1ad, the outer tag of QinQ
	EtherIPv6 = 0x86dd
)

// IP protocols.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// Header lengths and the shortest frame a NIC sends (without FCS).
const (
	EthLen  = 14
	IPv4Len = 20 // without options
	TCPLen  = 20 // without options
	UDPLen  = 8
	ICMPLen = 8
	ARPLen  = 28
	MinEth  = 60
)

// TCP flags (the 13th byte of the header).
const (
	TCPFIN = 0x01
	TCPSYN = 0x02
	TCPRST = 0x04
	TCPACK = 0x10
)

// IPv4 fragment field bits.
const (
	IPv4DF     = 0x4000
	IPv4MF     = 0x2000
	IPv4Offset = 0x1fff // in units of 8 bytes
)

// ICMP types.
const (
	ICMPEchoReply    = 0
	ICMPUnreach      = 3
	ICMPEchoRequest  = 8
	ICMPTimeExceeded = 11
	ICMPParamProblem = 12
)

// ARP opcodes and the Ethernet hardware type.
const (
	ARPHwEther   = 1
	ARPOpRequest = 1
	ARPOpReply   = 2
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Ether returns an Ethernet frame around payload, unpadded.
func Ether(dst, src net.HardwareAddr, ethertype uint16, payload []byte) []byte {
	b := make([]byte, EthLen, EthLen+len(payload))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], ethertype)
	return append(b, payload...)
}

// Pad extends a frame with zeros to the Ethernet minimum, as a NIC would.
func Pad(frame []byte) []byte {
	for len(frame) < MinEth {
		frame = append(frame, 0)
	}
	return frame
}

// VLAN inserts a tag (tpid EtherVLAN or EtherQinQ, VLAN vid) after the
// frame's MACs; a second call makes QinQ.
func VLAN(tpid, vid uint16, frame []byte) []byte {
	b := make([]byte, 12, len(frame)+4)
	copy(b, frame[:12])
	b = binary.BigEndian.AppendUint16(b, tpid)
	b = binary.BigEndian.AppendUint16(b, vid)
	return append(b, frame[12:]...)
}

// Checksum is the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 {
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

// IPv4 is an IPv4 header. Zero TTL means 64; Frag holds the flags
// (IPv4DF, IPv4MF) and the offset in 8-byte units; Options must be a
// multiple of 4 bytes long.
type IPv4 struct {
	Src, Dst netip.Addr
	Proto    uint8
	TOS      uint8
	TTL      uint8
	ID       uint16
	Frag     uint16
	Options  []byte
}

// Packet returns the header, with its lengths and checksum set, before payload.
func (h IPv4) Packet(payload []byte) []byte {
	hlen := IPv4Len + len(h.Options)
	b := make([]byte, IPv4Len, hlen+len(payload))
	b[0] = 0x40 | byte(hlen/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], uint16(hlen+len(payload)))
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	binary.BigEndian.PutUint16(b[6:8], h.Frag)
	b[8] = h.TTL
	if b[8] == 0 {
		b[8] = 64
	}
	b[9] = h.Proto
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	b = append(b, h.Options...)
	binary.BigEndian.PutUint16(b[10:12], Checksum(b[:hlen]))
	return append(b, payload...)
}

// FixIPv4Checksum recomputes the header checksum of the IPv4 packet ip
// after an edit.
func FixIPv4Checksum(ip []byte) {
	hlen := min(max(int(ip[0]&0x0f)*4, IPv4Len), len(ip))
	binary.BigEndian.PutUint16(ip[10:12], 0)
	binary.BigEndian.PutUint16(ip[10:12], Checksum(ip[:hlen]))
}

// UDP returns a UDP datagram with checksum 0 (none, legal in IPv4);
// SetL4Checksum fills it.
func UDP(srcPort, dstPort uint16, payload []byte) []byte {
	b := make([]byte, UDPLen, UDPLen+len(payload))
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(UDPLen+len(payload)))
	return append(b, payload...)
}

// TCP returns a TCP segment with a 20-byte header and checksum 0;
// SetL4Checksum fills it.
func TCP(srcPort, dstPort uint16, flags uint8, seq, ack uint32, payload []byte) []byte {
	b := make([]byte, TCPLen, TCPLen+len(payload))
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint32(b[4:8], seq)
	binary.BigEndian.PutUint32(b[8:12], ack)
	b[12] = 5 << 4 // data offset: 5 words
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:16], 64240) // window
	return append(b, payload...)
}

// L4ChecksumOffset is where the checksum of a TCP or UDP header sits.
func L4ChecksumOffset(proto uint8) int {
	if proto == ProtoTCP {
		return 16
	}
	return 6
}

// PseudoHeader is the IPv4 pseudo-header TCP and UDP checksums cover.
func PseudoHeader(src, dst netip.Addr, proto uint8, l4len int) []byte {
	s, d := src.As4(), dst.As4()
	b := append(s[:], d[:]...)
	return append(b, 0, proto, byte(l4len>>8), byte(l4len))
}

// L4Checksum is the TCP or UDP checksum of seg (its checksum field zero)
// between src and dst. UDP sends a computed 0 as 0xffff, since 0 means
// "no checksum".
func L4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	c := Checksum(append(PseudoHeader(src, dst, proto, len(seg)), seg...))
	if c == 0 && proto == ProtoUDP {
		return 0xffff
	}
	return c
}

// SetL4Checksum computes and writes the checksum of the TCP or UDP
// segment seg, sent from src to dst.
func SetL4Checksum(src, dst netip.Addr, proto uint8, seg []byte) []byte {
	off := L4ChecksumOffset(proto)
	binary.BigEndian.PutUint16(seg[off:], 0)
	binary.BigEndian.PutUint16(seg[off:], L4Checksum(src, dst, proto, seg))
	return seg
}

// ICMPEcho returns an echo request (ICMPEchoRequest) or reply with a
// correct checksum.
func ICMPEcho(typ uint8, id, seq uint16, payload []byte) []byte {
	b := make([]byte, ICMPLen, ICMPLen+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[2:4], Checksum(b))
	return b
}

// ICMPError returns an ICMP error of typ and code quoting quoted (an IPv4
// header and what follows it, as much as the caller chose), with a
// correct checksum; rest is the 4 bytes after the checksum (the next-hop
// MTU of "fragmentation needed", the pointer of a parameter problem).
func ICMPError(typ, code uint8, rest uint32, quoted []byte) []byte {
	b := make([]byte, ICMPLen, ICMPLen+len(quoted))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:8], rest)
	b = append(b, quoted...)
	binary.BigEndian.PutUint16(b[2:4], Checksum(b))
	return b
}

// ARP returns an ARP packet for IPv4; hwType other than ARPHwEther makes
// one the datapath must refuse.
func ARP(hwType, op uint16, senderMAC net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) []byte {
	b := make([]byte, ARPLen)
	binary.BigEndian.PutUint16(b[0:2], hwType)
	binary.BigEndian.PutUint16(b[2:4], EtherIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], op)
	copy(b[8:14], senderMAC)
	s, t := senderIP.As4(), targetIP.As4()
	copy(b[14:18], s[:])
	copy(b[18:24], targetMAC)
	copy(b[24:28], t[:])
	return b
}
