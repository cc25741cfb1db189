package datapath

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// The datapath rewrites headers in place and updates each checksum by the
// difference (RFC 1624) with the kernel's helpers, so a checksum that was
// wrong stays wrong by as much and a right one stays right. The model
// does the same arithmetic: ones' complement sums of 16-bit words, in the
// kernel's order of operations, so that even the choice between the two
// zeros (0x0000, 0xffff) matches byte for byte.

// onesSum adds words with end-around carry; it is 0 only when every word is.
func onesSum(words ...uint16) uint16 {
	var s uint32
	for _, w := range words {
		s += uint32(w)
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func hi(v uint32) uint16 { return uint16(v >> 16) }
func lo(v uint32) uint16 { return uint16(v) }

// l3Replace4 is bpf_l3_csum_replace of a 4-byte field (csum_replace4):
// the unfolded old checksum carries 16 one bits above it.
func l3Replace4(sum uint16, from, to uint32) uint16 {
	return ^onesSum(0xffff, ^sum, ^hi(from), ^lo(from), hi(to), lo(to))
}

// l3Replace2 is bpf_l3_csum_replace of a 2-byte field (csum_replace2),
// which adds in 16 bits only.
func l3Replace2(sum, from, to uint16) uint16 {
	return ^onesSum(onesSum(^sum, ^from), to)
}

// l4Replace is bpf_l4_csum_replace of a 4-byte (from, to) or, zero
// extended, 2-byte field. mangled0 (UDP): a checksum of 0 means none and
// stays 0, and a computed 0 is written 0xffff.
func l4Replace(sum uint16, from, to uint32, mangled0 bool) uint16 {
	if mangled0 && sum == 0 {
		return 0
	}
	r := ^onesSum(0xffff, ^sum, ^hi(from), ^lo(from), hi(to), lo(to))
	if mangled0 && r == 0 {
		return 0xffff
	}
	return r
}

func addr32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// IPv4 header fields, from the start of the frame.
const (
	ipTTLOff   = frames.EthLen + 8
	ipCsumOff  = frames.EthLen + 10
	ipSrcOff   = frames.EthLen + 12
	ipDstOff   = frames.EthLen + 16
	icmpIDOff  = 4
	icmpCsumAt = 2
)

func (o *outcome) u16(off int) uint16        { return binary.BigEndian.Uint16(o.out[off:]) }
func (o *outcome) put16(off int, v uint16)   { binary.BigEndian.PutUint16(o.out[off:], v) }
func (o *outcome) fits(off, n int) bool      { return off >= 0 && off+n <= len(o.out) }
func (o *outcome) put32(off int, v uint32)   { binary.BigEndian.PutUint32(o.out[off:], v) }
func (o *outcome) addrAt(off int) uint32     { return binary.BigEndian.Uint32(o.out[off:]) }
func (o *outcome) setAddr(off int, a uint32) { o.put32(off, a) }

// ipv4Checksum moves the header checksum for a 4-byte field from -> to.
func (o *outcome) ipv4Checksum(from, to uint32) {
	o.put16(ipCsumOff, l3Replace4(o.u16(ipCsumOff), from, to))
}

// decTTL takes one from the TTL, the header checksum following (the TTL
// shares its checksum word with the protocol).
func (o *outcome) decTTL() {
	o.step("ttl")
	old := o.u16(ipTTLOff)
	o.out[ipTTLOff]--
	o.put16(ipCsumOff, l3Replace2(o.u16(ipCsumOff), old, o.u16(ipTTLOff)))
}

// nat rewrites the source (src) or destination address and port of p to
// to: the address and the IPv4 checksum; for TCP and UDP the port and the
// L4 checksum, which covers both through the pseudo-header (a UDP
// checksum of 0 stays 0); for ICMP echo the identifier and the ICMP
// checksum, which covers no address. A later fragment has no L4 header:
// only its address changes. It returns false when the L4 checksum is not
// in the frame (a UDP header cut after its ports): the helper fails and
// the program drops the packet.
func (o *outcome) nat(p l4, src bool, to netip.AddrPort) bool {
	addrOff, oldPort := ipDstOff, p.dport
	if src {
		addrOff, oldPort = ipSrcOff, p.sport
	}
	o.step(map[bool]string{true: "snat", false: "dnat"}[src] + map[bool]string{true: "(frag)", false: ""}[p.laterFrag])
	from, toAddr := o.addrAt(addrOff), addr32(to.Addr())
	if !p.laterFrag {
		portOff := p.off
		if !src {
			portOff += 2
		}
		switch p.proto {
		case protoICMP:
			idIsPort := (p.icmpType == frames.ICMPEchoRequest) == src
			if idIsPort && oldPort != to.Port() {
				c := p.off + icmpCsumAt
				o.put16(c, l4Replace(o.u16(c), uint32(oldPort), uint32(to.Port()), false))
				o.put16(p.off+icmpIDOff, to.Port())
			}
		default:
			c := p.off + frames.L4ChecksumOffset(p.proto)
			if !o.fits(c, 2) {
				return false
			}
			udp := p.proto == protoUDP
			o.put16(c, l4Replace(o.u16(c), from, toAddr, udp))
			if oldPort != to.Port() {
				o.put16(c, l4Replace(o.u16(c), uint32(oldPort), uint32(to.Port()), udp))
				o.put16(portOff, to.Port())
			}
		}
	}
	o.ipv4Checksum(from, toAddr)
	o.setAddr(addrOff, toAddr)
	return true
}

// natError translates an ICMP error and its quote to addr:port: inbound
// (to the container whose packet is quoted), the outer destination and
// the quoted source; outbound (from a container about a packet it
// received), the outer source and the quoted destination. Each IPv4
// checksum follows its address; the quoted header's checksum moves
// opposite to its address, so the ICMP checksum, which covers both,
// changes only with the port. The quoted L4 checksum is left alone.
func (o *outcome) natError(e icmpErr, inbound bool, to netip.AddrPort) {
	outerOff, quotedOff, port, portOff := ipSrcOff, errInnerIP+16, e.dst.Port(), errInnerL4+2
	if inbound {
		outerOff, quotedOff, port, portOff = ipDstOff, errInnerIP+12, e.src.Port(), errInnerL4
	}
	if e.proto == protoICMP {
		portOff = errInnerL4 + icmpIDOff
	}
	o.step(map[bool]string{true: "error-in", false: "error-out"}[inbound])
	toAddr := addr32(to.Addr())
	o.ipv4Checksum(o.addrAt(outerOff), toAddr)
	o.setAddr(outerOff, toAddr)
	c := errInnerIP + 10
	o.put16(c, l3Replace4(o.u16(c), o.addrAt(quotedOff), toAddr))
	o.setAddr(quotedOff, toAddr)
	if port != to.Port() {
		c := frames.EthLen + frames.IPv4Len + icmpCsumAt
		o.put16(c, l4Replace(o.u16(c), uint32(port), uint32(to.Port()), false))
		o.put16(portOff, to.Port())
	}
}
