package datapath

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

const (
	protoTCP = 6

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10

	tcpSeq = 0x01020304 // sequence number of every segment unless a test sets one

	ipv4Len = 20
	tcpLen  = 20
	udpLen  = 8
)

// packet describes a TCP or UDP frame. frame() builds it with every
// checksum computed from scratch, so a frame a program rewrote can be
// compared byte for byte with the packet it should have become: equal
// bytes mean equal addresses, ports, MACs and TTL, and valid checksums.
type packet struct {
	dstMAC, srcMAC net.HardwareAddr
	src, dst       netip.AddrPort
	proto          uint8 // protoTCP or protoUDP
	ttl            uint8 // 0: 64, as ipv4 sets it
	tcpFlags       uint8
	seq, ack       uint32 // TCP; 0: the numbers tcpSegment writes
	noUDPChecksum  bool   // UDP without a checksum (0), legal in IPv4
}

var l4Payload = []byte("bpfnet nat test")

func (p packet) frame() []byte {
	var seg []byte
	if p.proto == protoTCP {
		seg = tcpSegment(p.src.Port(), p.dst.Port(), p.tcpFlags, l4Payload)
		if p.seq != 0 {
			binary.BigEndian.PutUint32(seg[4:8], p.seq)
		}
		if p.ack != 0 {
			binary.BigEndian.PutUint32(seg[8:12], p.ack)
		}
	} else {
		seg = udp(p.src.Port(), p.dst.Port(), l4Payload)
	}
	if p.proto == protoTCP || !p.noUDPChecksum {
		off := l4ChecksumOff(p.proto)
		binary.BigEndian.PutUint16(seg[off:], l4Checksum(p.src.Addr(), p.dst.Addr(), p.proto, seg))
	}
	ip := ipv4(p.src.Addr(), p.dst.Addr(), p.proto, seg)
	if p.ttl != 0 {
		ip[8] = p.ttl
		binary.BigEndian.PutUint16(ip[10:12], 0)
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ipv4Len]))
	}
	return ether(p.dstMAC, p.srcMAC, etherIPv4, ip)
}

// reply is the packet that answers p: addresses, ports and MACs swapped,
// with flags for TCP.
func (p packet) reply(tcpFlags uint8) packet {
	r := p
	r.src, r.dst = p.dst, p.src
	r.srcMAC, r.dstMAC = p.dstMAC, p.srcMAC
	r.tcpFlags = tcpFlags
	return r
}

// acks is p as an ACK of everything r (TCP, with its payload) sent: what
// completes a handshake when r is the SYN-ACK.
func (p packet) acks(r packet) packet {
	seq := r.seq
	if seq == 0 {
		seq = tcpSeq
	}
	p.tcpFlags = tcpACK
	p.ack = seq + uint32(len(l4Payload))
	if r.tcpFlags&tcpSYN != 0 {
		p.ack++
	}
	return p
}

// tcpSegment is a TCP header of 20 bytes and payload, checksum zero,
// with the tests' sequence number (and acknowledgment, with ACK set).
func tcpSegment(srcPort, dstPort uint16, flags uint8, payload []byte) []byte {
	var ack uint32
	if flags&tcpACK != 0 {
		ack = 0x0a0b0c0d
	}
	return frames.TCP(srcPort, dstPort, flags, tcpSeq, ack, payload)
}

func l4ChecksumOff(proto uint8) int { return frames.L4ChecksumOffset(proto) }

// l4Checksum is the TCP or UDP checksum of seg (its checksum field zero)
// between src and dst, pseudo-header included. UDP sends a computed 0 as
// 0xffff, since 0 means "no checksum".
func l4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	c := checksum(append(pseudoHeader(src, dst, proto, len(seg)), seg...))
	if c == 0 && proto == protoUDP {
		return 0xffff
	}
	return c
}

func pseudoHeader(src, dst netip.Addr, proto uint8, l4len int) []byte {
	s, d := src.As4(), dst.As4()
	b := append(s[:], d[:]...)
	return append(b, 0, proto, byte(l4len>>8), byte(l4len))
}

// checkChecksums verifies the IPv4 header checksum and the TCP or UDP
// checksum of frame from its bytes alone, whatever builder made it.
func checkChecksums(t *testing.T, frame []byte) {
	t.Helper()
	if err := checksumErr(frame); err != nil {
		t.Error(err)
	}
}

func checksumErr(frame []byte) error {
	if len(frame) < ethLen+ipv4Len || binary.BigEndian.Uint16(frame[12:14]) != etherIPv4 {
		return fmt.Errorf("not an IPv4 frame: % x", frame)
	}
	ip := frame[ethLen:]
	hlen := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if hlen < ipv4Len || total < hlen || total > len(ip) {
		return fmt.Errorf("IPv4 header length %d, total length %d in %d bytes", hlen, total, len(ip))
	}
	if c := checksum(ip[:hlen]); c != 0 {
		return fmt.Errorf("IPv4 header checksum %#04x is wrong (residue %#04x)", binary.BigEndian.Uint16(ip[10:12]), c)
	}
	proto, seg := ip[9], ip[hlen:total]
	if proto != protoTCP && proto != protoUDP {
		return nil
	}
	if proto == protoUDP && binary.BigEndian.Uint16(seg[6:8]) == 0 {
		return nil // no checksum: nothing to verify
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	if c := checksum(append(pseudoHeader(src, dst, proto, len(seg)), seg...)); c != 0 {
		return fmt.Errorf("protocol %d checksum %#04x is wrong (residue %#04x)", proto,
			binary.BigEndian.Uint16(seg[l4ChecksumOff(proto):]), c)
	}
	return nil
}

// frameSrc and frameDst read the addresses and ports of an IPv4 TCP or
// UDP frame without options.
func frameSrc(frame []byte) netip.AddrPort {
	return ap(netip.AddrFrom4([4]byte(frame[ethLen+12:])), binary.BigEndian.Uint16(frame[ethLen+ipv4Len:]))
}

func frameDst(frame []byte) netip.AddrPort {
	return ap(netip.AddrFrom4([4]byte(frame[ethLen+16:])), binary.BigEndian.Uint16(frame[ethLen+ipv4Len+2:]))
}

// checkFrame fails unless out is exactly want's frame and has valid
// checksums; it returns whether it was.
func checkFrame(t *testing.T, out []byte, want packet) bool {
	t.Helper()
	checkChecksums(t, out)
	w := want.frame()
	if string(out) != string(w) {
		t.Errorf("rewritten frame:\n got % x\nwant % x", out, w)
		return false
	}
	return true
}

// TestChecksums checks the checker: frames the builders make pass, and a
// flipped bit in any header field a NAT rewrites, or in a checksum, fails.
func TestChecksums(t *testing.T) {
	for _, p := range []packet{
		{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 40000), dst: ap(hostIP, 8080), proto: protoTCP, tcpFlags: tcpSYN},
		{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 40000), dst: ap(hostIP, 53), proto: protoUDP, ttl: 9},
	} {
		b := p.frame()
		if err := checksumErr(b); err != nil {
			t.Errorf("%d frame: %v", p.proto, err)
		}
		offs := map[string]int{"ttl": ethLen + 8, "ip checksum": ethLen + 10, "saddr": ethLen + 12,
			"daddr": ethLen + 19, "sport": ethLen + ipv4Len, "dport": ethLen + ipv4Len + 3,
			"l4 checksum": ethLen + ipv4Len + l4ChecksumOff(p.proto)}
		for name, off := range offs {
			bad := slices.Clone(b)
			bad[off] ^= 0x10
			if checksumErr(bad) == nil {
				t.Errorf("%d frame with %s changed passes", p.proto, name)
			}
		}
	}
	bare := packet{src: ap(client, 1), dst: ap(hostIP, 2), proto: protoUDP, noUDPChecksum: true}.frame()
	if c := binary.BigEndian.Uint16(bare[ethLen+ipv4Len+6:]); c != 0 || checksumErr(bare) != nil {
		t.Errorf("udp without checksum: checksum %#04x, error %v", c, checksumErr(bare))
	}
}
