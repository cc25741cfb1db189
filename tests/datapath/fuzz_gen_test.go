package datapath

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// frameGen makes frames for the fuzz test from a seed: well-formed
// frames of every kind the datapath handles, aimed at fuzzWorld's
// endpoints, ports and flows, then mutated (tags, options, broken
// lengths, truncation, flipped bytes) or not.
type frameGen struct {
	r *rand.Rand
}

func newFrameGen(seed uint64) *frameGen {
	return &frameGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *frameGen) pick(n int) int        { return g.r.IntN(n) }
func (g *frameGen) chance(pct int) bool   { return g.r.IntN(100) < pct }
func (g *frameGen) u16() uint16           { return uint16(g.r.Uint32()) }
func oneOf[T any](g *frameGen, xs ...T) T { return xs[g.pick(len(xs))] }

// addr is an address the world knows something about, or a random one.
func (g *frameGen) addr() netip.Addr {
	if g.chance(10) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], g.r.Uint32())
		return netip.AddrFrom4(b)
	}
	return oneOf(g, epA.IP, epB.IP, epC.IP, epD.IP, unknown, dangling, gw1, gw2, hostIP, hostIP2, client,
		noNeighbour, elsewhere, loopback, hostBcast, otherNet, routerAddr, netip.IPv4Unspecified(),
		netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("224.0.0.1"))
}

// port is a port of the world's mappings and flows, or a random one.
func (g *frameGen) port() uint16 {
	if g.chance(15) {
		return g.u16()
	}
	return oneOf[uint16](g, 80, 53, 90, 81, 443, 77, webPort, dnsPort, peerPort, danglePort, loPort, twicePort,
		twicePort+1, masqPort, masqUDP, masqEcho, 61003, 61004, 7000, 7001, 7002, 7003, 40000, 40001, 40002,
		40003, 45000, 45001, 50000, 50001, 50002, 50003, 5000, 7, 0, 61000, 65535, udpPeer, 5300, 5301)
}

func (g *frameGen) tcpFlags() uint8 {
	if g.chance(10) {
		return uint8(g.r.Uint32())
	}
	return oneOf[uint8](g, frames.TCPSYN, frames.TCPSYN|frames.TCPACK, frames.TCPACK, frames.TCPACK|0x08,
		frames.TCPFIN|frames.TCPACK, frames.TCPRST, frames.TCPRST|frames.TCPACK, 0)
}

func (g *frameGen) payload() []byte {
	b := make([]byte, oneOf(g, 0, 1, 7, 15, 64, 200))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// segment is an L4 header and payload of proto between src and dst with
// a right checksum (UDP sometimes none).
func (g *frameGen) segment(proto uint8, src, dst netip.AddrPort) []byte {
	switch proto {
	case protoTCP:
		seg := frames.TCP(src.Port(), dst.Port(), g.tcpFlags(), g.r.Uint32(), g.r.Uint32(), g.payload())
		return frames.SetL4Checksum(src.Addr(), dst.Addr(), proto, seg)
	case protoUDP:
		seg := frames.UDP(src.Port(), dst.Port(), g.payload())
		if g.chance(15) {
			return seg
		}
		return frames.SetL4Checksum(src.Addr(), dst.Addr(), proto, seg)
	}
	// ICMP echo: the requester's port is the identifier.
	if dst.Port() != 0 && (src.Port() == 0 || g.chance(50)) {
		return frames.ICMPEcho(frames.ICMPEchoReply, dst.Port(), g.u16(), g.payload())
	}
	return frames.ICMPEcho(frames.ICMPEchoRequest, src.Port(), g.u16(), g.payload())
}

// packet is an IPv4 packet src -> dst carrying proto.
func (g *frameGen) packet(proto uint8, src, dst netip.AddrPort) []byte {
	h := frames.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: proto, ID: g.u16(), TTL: oneOf[uint8](g, 64, 64, 64, 2, 1, 0),
		TOS: oneOf[uint8](g, 0, 0, 0x10)}
	if g.chance(50) {
		h.Frag = frames.IPv4DF
	}
	return h.Packet(g.segment(proto, src, dst))
}

// fragment is a first fragment (MF set) or a later one (an offset) of a
// datagram src -> dst, with the world's fragment identifiers or another.
func (g *frameGen) fragment(proto uint8, src, dst netip.AddrPort, id uint16) []byte {
	if g.chance(30) {
		id = g.u16()
	}
	h := frames.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: proto, ID: id, TTL: 64}
	if g.chance(50) {
		h.Frag = frames.IPv4MF
		return h.Packet(g.segment(proto, src, dst))
	}
	h.Frag = uint16(1 + g.pick(200))
	if g.chance(50) {
		h.Frag |= frames.IPv4MF
	}
	return h.Packet(g.payload())
}

// icmpError is an ICMP error from src to dst quoting quoted's header and
// the 8 bytes after it (or all of it).
func (g *frameGen) icmpError(src, dst netip.Addr, quoted []byte) []byte {
	typ := oneOf[uint8](g, frames.ICMPUnreach, frames.ICMPUnreach, frames.ICMPTimeExceeded, frames.ICMPParamProblem, 5, 0)
	n := min(len(quoted), frames.IPv4Len+8)
	if g.chance(20) {
		n = len(quoted)
	}
	msg := frames.ICMPError(typ, uint8(g.pick(5)), 1400, quoted[:n])
	return frames.IPv4{Src: src, Dst: dst, Proto: protoICMP, TTL: oneOf[uint8](g, 64, 64, 1), ID: g.u16()}.Packet(msg)
}

// flowOf is one of the world's flows, seen from its originator (orig)
// or from its reply side, or a made-up tuple.
type tuple struct {
	proto    uint8
	src, dst netip.AddrPort
}

func (g *frameGen) worldFlow() tuple {
	w := fuzzWorld()
	c := w.ct[g.pick(len(w.ct))]
	return tuple{c.proto, c.src, c.dst}
}

func (g *frameGen) proto() uint8 { return oneOf[uint8](g, protoTCP, protoTCP, protoUDP, protoICMP) }

// fromContainer is a frame as A, or a hostile container in A's place,
// sends it.
func (g *frameGen) fromContainer() (string, []byte) {
	ip := func(b []byte) []byte { return frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, b) }
	var kind string
	var frame []byte
	switch g.pick(9) {
	case 0, 1: // to anywhere
		kind = "flow"
		p := g.proto()
		frame = ip(g.packet(p, ap(epA.IP, g.port()), ap(g.addr(), g.port())))
	case 8: // to a port published on the host, A's own or a peer's
		kind = "to a port"
		p := oneOf[uint8](g, protoTCP, protoTCP, protoUDP)
		dst := ap(oneOf(g, hostIP, gw1, hostIP2, loopback), oneOf[uint16](g, webPort, dnsPort, peerPort, danglePort, loPort, twicePort, udpPeer))
		frame = ip(g.packet(p, ap(epA.IP, g.port()), dst))
	case 2: // a packet of one of the world's flows, from A's side
		kind = "world flow"
		f := g.worldFlow()
		if f.dst.Addr() == epA.IP || f.dst.Addr() == hostIP {
			f.src, f.dst = f.dst, f.src
		}
		if f.src.Addr() != epA.IP {
			f.src = ap(epA.IP, f.src.Port())
		}
		frame = ip(g.packet(f.proto, f.src, f.dst))
	case 3:
		kind = "fragment"
		frame = ip(g.fragment(oneOf[uint8](g, protoUDP, protoTCP, protoICMP), ap(epA.IP, 5000), ap(oneOf(g, client, gw1, epB.IP), 53), fragID))
	case 4: // an error about a packet A received
		kind = "icmp error"
		f := g.worldFlow()
		if f.dst.Addr() != epA.IP {
			f.src, f.dst = f.dst, f.src
		}
		if g.chance(20) {
			f = tuple{g.proto(), ap(g.addr(), g.port()), ap(epA.IP, g.port())}
		}
		quoted := g.packet(f.proto, f.src, f.dst)
		frame = ip(g.icmpError(epA.IP, oneOf(g, f.src.Addr(), g.addr()), quoted))
	case 5:
		kind = "arp"
		frame = g.arp(epA.MAC, epA.IP)
	case 6:
		kind = "other ethertype"
		frame = frames.Ether(gw1MAC, epA.MAC, oneOf[uint16](g, frames.EtherIPv6, etherRaw, 0x0000, 0x8847), g.payload())
	default:
		kind = "random bytes"
		frame = g.random(epA.MAC)
	}
	return g.mutate(kind, frame)
}

// arp is an ARP request or reply from sender, mostly about the world's
// addresses, sometimes lying about who sends it or not Ethernet/IPv4.
func (g *frameGen) arp(mac net.HardwareAddr, ip netip.Addr) []byte {
	senderMAC, senderIP := mac, ip
	if g.chance(15) {
		senderMAC = oneOf(g, strangerMAC, epB.MAC)
	}
	if g.chance(15) {
		senderIP = oneOf(g, netip.IPv4Unspecified(), epB.IP, g.addr())
	}
	op := oneOf[uint16](g, frames.ARPOpRequest, frames.ARPOpRequest, frames.ARPOpReply, 3)
	a := frames.ARP(frames.ARPHwEther, op, senderMAC, senderIP, make(net.HardwareAddr, 6), oneOf(g, gw1, epB.IP, epC.IP, ip, g.addr()))
	if g.chance(10) {
		a[g.pick(6)] ^= byte(1 + g.pick(255)) // hardware type, protocol or their lengths
	}
	return frames.Pad(frames.Ether(frames.Broadcast, mac, frames.EtherARP, a))
}

// random is random bytes after Ethernet addresses, mostly with the
// sender's MAC and an IPv4 or ARP ethertype.
func (g *frameGen) random(src net.HardwareAddr) []byte {
	b := make([]byte, 14+g.pick(120))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	if g.chance(80) {
		copy(b[6:12], src)
	}
	if g.chance(80) {
		binary.BigEndian.PutUint16(b[12:14], oneOf[uint16](g, frames.EtherIPv4, frames.EtherIPv4, frames.EtherARP))
		if len(b) > 14 && g.chance(70) {
			b[14] = 0x45
		}
	}
	return b
}

// fromUplink is a frame as it reaches the host's uplink from the wire.
func (g *frameGen) fromUplink() (string, []byte) {
	ip := func(b []byte) []byte { return frames.Ether(upMAC, clientMAC, frames.EtherIPv4, b) }
	var kind string
	var frame []byte
	switch g.pick(8) {
	case 0, 1: // to the host's addresses and ports
		kind = "to a port"
		p := oneOf[uint8](g, protoTCP, protoUDP, protoICMP)
		frame = ip(g.packet(p, ap(oneOf(g, client, client, g.addr()), g.port()), ap(oneOf(g, hostIP, hostIP2, gw1, loopback, g.addr()), g.port())))
	case 2: // a packet of one of the world's flows, from the far side
		kind = "world flow"
		f := g.worldFlow()
		if f.src.Addr() == epA.IP || f.src.Addr() == epB.IP || f.src.Addr() == gw1 {
			f.src, f.dst = f.dst, f.src
		}
		frame = ip(g.packet(f.proto, f.src, f.dst))
	case 3:
		kind = "fragment"
		dst := oneOf(g, ap(hostIP, masqUDP), ap(hostIP, webPort), ap(hostIP, dnsPort))
		frame = ip(g.fragment(oneOf[uint8](g, protoUDP, protoTCP), ap(client, oneOf[uint16](g, 53, 40000)), dst, fragInID))
	case 4: // an error about a packet the host sent
		kind = "icmp error"
		f := g.worldFlow()
		if f.dst.Addr() == epA.IP {
			f.src, f.dst = f.dst, f.src
		}
		// The reply entry's reverse, or the published flow as it left.
		if f.src.Addr() == client || f.src.Addr() == otherNet {
			f.src, f.dst = f.dst, f.src
		}
		if f.src.Addr() == epA.IP && g.chance(70) {
			f.src = ap(hostIP, oneOf[uint16](g, webPort, dnsPort, f.src.Port()))
		}
		quoted := g.packet(f.proto, f.src, f.dst)
		frame = ip(g.icmpError(oneOf(g, routerAddr, f.dst.Addr()), oneOf(g, f.src.Addr(), hostIP, g.addr()), quoted))
	case 5:
		kind = "arp"
		frame = g.arp(clientMAC, client)
	case 6: // straight to a container
		kind = "to a container"
		frame = ip(g.packet(g.proto(), ap(client, g.port()), ap(oneOf(g, epA.IP, epB.IP, epC.IP), g.port())))
	default:
		kind = "random bytes"
		frame = g.random(clientMAC)
	}
	return g.mutate(kind, frame)
}

// toContainer is a frame the host sends A.
func (g *frameGen) toContainer() (string, []byte) {
	var kind string
	var frame []byte
	switch g.pick(5) {
	case 0, 1:
		kind = "from anywhere"
		frame = frames.Ether(epA.MAC, gw1MAC, frames.EtherIPv4, g.packet(g.proto(), ap(g.addr(), g.port()), ap(epA.IP, g.port())))
	case 4: // a host process bound to a port that may be a published one
		kind = "from a host port"
		src := ap(oneOf(g, gw1, hostIP, hostIP2, loopback), oneOf(g, dnsPort, udpPeer, peerPort, g.port()))
		frame = frames.Ether(epA.MAC, gw1MAC, frames.EtherIPv4, g.packet(oneOf[uint8](g, protoUDP, protoUDP, protoTCP), src, ap(epA.IP, g.port())))
	case 2:
		kind = "arp"
		frame = g.arp(gw1MAC, gw1)
	default:
		kind = "random bytes"
		frame = g.random(gw1MAC)
	}
	return g.mutate(kind, frame)
}

// mutate breaks a frame in one of the ways a hostile sender or the wire
// can, or leaves it; the kind says how.
func (g *frameGen) mutate(kind string, frame []byte) (string, []byte) {
	b := slices.Clone(frame)
	isIPv4 := len(b) >= ethLen+frames.IPv4Len && binary.BigEndian.Uint16(b[12:14]) == frames.EtherIPv4
	if g.chance(45) {
		return kind, b
	}
	switch g.pick(11) {
	case 0:
		return kind + ", 802.1Q", frames.VLAN(frames.EtherVLAN, uint16(g.pick(4096)), b)
	case 1:
		return kind + ", QinQ", frames.VLAN(frames.EtherQinQ, 10, frames.VLAN(frames.EtherVLAN, 20, b))
	case 2:
		if isIPv4 {
			return kind + ", options", withIPv4Options(b, g.optionBytes())
		}
	case 3:
		if isIPv4 {
			b[ethLen] = b[ethLen]&0xf0 | byte(g.pick(16))
			if g.chance(80) {
				frames.FixIPv4Checksum(b[ethLen:])
			}
			return kind + ", header length", b
		}
	case 4:
		if isIPv4 {
			tot := binary.BigEndian.Uint16(b[ethLen+2:])
			binary.BigEndian.PutUint16(b[ethLen+2:], oneOf(g, tot+1, tot-1, 0, 19, 20, uint16(len(b)-ethLen), g.u16()))
			if g.chance(80) {
				frames.FixIPv4Checksum(b[ethLen:])
			}
			return kind + ", total length", b
		}
	case 5:
		if isIPv4 {
			b[ethLen] = byte(oneOf(g, 0, 6, 15))<<4 | b[ethLen]&0x0f
			frames.FixIPv4Checksum(b[ethLen:])
			return kind + ", version", b
		}
	case 6:
		return kind + ", truncated", b[:ethLen+g.pick(len(b)-ethLen+1)]
	case 7:
		return kind + ", padded", append(b, make([]byte, 1+g.pick(40))...)
	case 8:
		for range 1 + g.pick(3) {
			b[g.pick(len(b))] ^= byte(1 + g.pick(255))
		}
		return kind + ", bytes flipped", b
	case 9:
		if isIPv4 {
			hlen := int(b[ethLen]&0x0f) * 4
			if off := ethLen + hlen; off < len(b) {
				b[off+g.pick(len(b)-off)] ^= byte(1 + g.pick(255)) // the L4 checksum no longer holds
				return kind + ", L4 bytes flipped", b
			}
		}
	case 10:
		if isIPv4 && g.chance(50) {
			copy(b[ethLen+12:ethLen+16], oneOf(g, epB.IP, client, g.addr()).AsSlice())
			frames.FixIPv4Checksum(b[ethLen:])
			return kind + ", source address", b
		}
		copy(b[6:12], oneOf(g, strangerMAC, epB.MAC, clientMAC, gw1MAC))
		return kind + ", source MAC", b
	}
	return kind, b
}

// optionBytes are 4 to 40 bytes of IPv4 options: NOPs, an end of list,
// a record-route or timestamp option, or anything.
func (g *frameGen) optionBytes() []byte {
	n := 4 * (1 + g.pick(10))
	b := make([]byte, n)
	switch g.pick(3) {
	case 0:
		for i := range b {
			b[i] = 1 // NOP
		}
		b[n-1] = 0
	case 1:
		b[0], b[1], b[2] = 7, byte(min(n-1, 39)), 4 // record route
		for i := 3; i < n; i++ {
			b[i] = 0
		}
	default:
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
	}
	return b
}

// withIPv4Options inserts opts (a multiple of 4 bytes) after the IPv4
// header of frame, its lengths and checksum right again.
func withIPv4Options(frame, opts []byte) []byte {
	hlen := int(frame[ethLen]&0x0f) * 4
	if hlen < frames.IPv4Len || ethLen+hlen+len(opts) > ethLen+60 || ethLen+hlen > len(frame) {
		return frame
	}
	b := slices.Clone(frame[:ethLen+hlen])
	b = append(b, opts...)
	b = append(b, frame[ethLen+hlen:]...)
	ip := b[ethLen:]
	ip[0] = 0x40 | byte((hlen+len(opts))/4)
	binary.BigEndian.PutUint16(ip[2:4], binary.BigEndian.Uint16(ip[2:4])+uint16(len(opts)))
	frames.FixIPv4Checksum(ip)
	return b
}
