package datapath

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// outcome is what a program does with a frame: its verdict, the counters
// it moves and the frame it leaves (compared unless the frame is dropped).
type outcome struct {
	verdict uint32
	drop    *dropCount // nil unless dropped
	counted []slotCount
	out     []byte
	// steps are the rewrites the model made, in order: the path a frame
	// took, tallied by the fuzz test to show what its frames reached.
	steps []string
}

// dropCount is a drop counter key: bpfnet_drops' {slot, reason, direction}.
type dropCount struct {
	slot   uint32
	reason bpf.DropReason
	dir    bpf.Direction
}

// slotCount is one packet of the frame's length counted on slot, sent
// (DIR_FROM_CONTAINER) or received (DIR_TO_CONTAINER).
type slotCount struct {
	slot uint32
	dir  bpf.Direction
}

const (
	dirFrom = bpf.DirectionDIR_FROM_CONTAINER
	dirTo   = bpf.DirectionDIR_TO_CONTAINER
)

func (o *outcome) step(s string) { o.steps = append(o.steps, s) }

// path names what happened to the frame: verdict, drop reason, rewrites,
// slots counted.
func (o outcome) path() string {
	s := verdictName(o.verdict)
	if o.drop != nil {
		s += " " + reasonName(o.drop.reason)
	}
	for _, st := range o.steps {
		s += " " + st
	}
	for _, c := range o.counted {
		s += fmt.Sprintf(" %d/%d", c.slot, c.dir)
	}
	return s
}

func (o outcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", verdictName(o.verdict))
	if o.drop != nil {
		fmt.Fprintf(&b, " drop slot %d reason %s dir %d", o.drop.slot, reasonName(o.drop.reason), o.drop.dir)
	}
	for _, c := range o.counted {
		fmt.Fprintf(&b, " count slot %d dir %d", c.slot, c.dir)
	}
	return b.String()
}

// dropReasonNames are the names of enum drop_reason, read from the
// container object's BTF by fuzzFixture.
var dropReasonNames map[bpf.DropReason]string

func reasonName(r bpf.DropReason) string {
	if n, ok := dropReasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason %d", r)
}

// result starts an outcome that leaves the frame as it came.
func result(frame []byte) *outcome {
	return &outcome{out: slices.Clone(frame)}
}

func (o *outcome) dropped(slot uint32, reason bpf.DropReason, dir bpf.Direction) *outcome {
	o.verdict = verdictShot
	o.drop = &dropCount{slot, reason, dir}
	return o
}

func (o *outcome) count(slot uint32, dir bpf.Direction) *outcome {
	o.counted = append(o.counted, slotCount{slot, dir})
	return o
}

// passed: on to the host stack, counted on slot.
func (o *outcome) passed(slot uint32, dir bpf.Direction) *outcome {
	o.verdict = verdictOK
	return o.count(slot, dir)
}

func (o *outcome) redirected() *outcome {
	o.verdict = verdictRedirect
	return o
}

// Drop reasons, as bpf2go exports enum drop_reason.
const (
	dropMalformed      = bpf.DropReasonDROP_MALFORMED
	dropUnsupportedL3  = bpf.DropReasonDROP_UNSUPPORTED_L3
	dropSpoofedMAC     = bpf.DropReasonDROP_SPOOFED_MAC
	dropSpoofedIP      = bpf.DropReasonDROP_SPOOFED_IP
	dropSpoofedARP     = bpf.DropReasonDROP_SPOOFED_ARP
	dropOtherNetwork   = bpf.DropReasonDROP_OTHER_NETWORK
	dropICCDisabled    = bpf.DropReasonDROP_ICC_DISABLED
	dropInternal       = bpf.DropReasonDROP_INTERNAL_NETWORK
	dropUnknownNeigh   = bpf.DropReasonDROP_UNKNOWN_NEIGHBOR
	dropUnsupportedARP = bpf.DropReasonDROP_UNSUPPORTED_ARP
	dropNotPublished   = bpf.DropReasonDROP_NOT_PUBLISHED
	dropVLAN           = bpf.DropReasonDROP_VLAN
	dropNoFlow         = bpf.DropReasonDROP_NO_FLOW
	dropUntranslatable = bpf.DropReasonDROP_UNTRANSLATABLE
)

// l4 is what the model reads of an IPv4 packet: its header fields and,
// for TCP, UDP and ICMP echo, its flow (for a later fragment, the ports
// its first fragment left in bpfnet_frags).
type l4 struct {
	ihl, totLen  int // header length in bytes, total length
	proto        uint8
	ttl          uint8
	src, dst     netip.Addr
	id, frag     uint16
	off          int // where the L4 header starts in the frame
	hasFlow      bool
	laterFrag    bool // no L4 header: ports from bpfnet_frags
	sport, dport uint16
	tcpFlags     uint8
	seq, ack     uint32 // TCP
	seqLen       uint32 // TCP: sequence space taken (payload, SYN, FIN)
	icmpType     uint8  // ICMP echo: which of the ports the identifier is
}

func (p l4) srcAP() netip.AddrPort { return ap(p.src, p.sport) }
func (p l4) dstAP() netip.AddrPort { return ap(p.dst, p.dport) }

// readIPv4 reads the IPv4 header of frame (at least 34 bytes long) and
// its flow. A packet has a flow when it is TCP with 20 bytes of header in
// the frame, UDP with its ports in the frame, or an ICMP echo request or
// reply with 8 bytes of header; or a later fragment of a datagram whose
// first fragment recorded its ports. Only the frame's length bounds the
// L4 header: the total length is checked, where it is, before.
func readIPv4(w *world, frame []byte) l4 {
	ip := frame[frames.EthLen:]
	p := l4{
		ihl: int(ip[0]&0x0f) * 4, totLen: int(binary.BigEndian.Uint16(ip[2:4])),
		proto: ip[9], ttl: ip[8], id: binary.BigEndian.Uint16(ip[4:6]), frag: binary.BigEndian.Uint16(ip[6:8]),
		src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20])),
	}
	p.off = frames.EthLen + p.ihl
	if p.ihl < frames.IPv4Len || (p.proto != protoTCP && p.proto != protoUDP && p.proto != protoICMP) {
		return p
	}
	if p.frag&frames.IPv4Offset != 0 {
		p.sport, p.dport, p.hasFlow = w.fragPorts(p.proto, p.src, p.dst, p.id)
		p.laterFrag = true
		return p
	}
	seg := frame[min(p.off, len(frame)):]
	switch p.proto {
	case protoTCP:
		if len(seg) < frames.TCPLen {
			return p
		}
		p.tcpFlags = seg[13]
		p.seq, p.ack = binary.BigEndian.Uint32(seg[4:8]), binary.BigEndian.Uint32(seg[8:12])
		p.seqLen = uint32(p.totLen) - uint32(p.ihl) - uint32(seg[12]>>4)*4
		if p.tcpFlags&frames.TCPSYN != 0 {
			p.seqLen++
		}
		if p.tcpFlags&frames.TCPFIN != 0 {
			p.seqLen++
		}
	case protoUDP:
		if len(seg) < 4 {
			return p
		}
	case protoICMP:
		if len(seg) < frames.ICMPLen {
			return p
		}
		id := binary.BigEndian.Uint16(seg[4:6])
		p.icmpType = seg[0]
		switch seg[0] {
		case frames.ICMPEchoRequest:
			p.sport = id
		case frames.ICMPEchoReply:
			p.dport = id
		default:
			return p // an error: see readICMPError
		}
		p.hasFlow = true
		return p
	}
	p.sport, p.dport = binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
	p.hasFlow = true
	return p
}

// icmpErr is the quote of an ICMP error: the tuple of the packet it is
// about, as on the wire.
type icmpErr struct {
	outerSrc, outerDst netip.Addr
	proto              uint8
	src, dst           netip.AddrPort // ICMP echo: the identifier as src's port
}

// Offsets in a frame carrying an ICMP error after an IPv4 header without
// options.
const (
	errInnerIP = frames.EthLen + frames.IPv4Len + frames.ICMPLen
	errInnerL4 = errInnerIP + frames.IPv4Len
)

// readICMPError reads an ICMP error (destination unreachable, time
// exceeded, parameter problem) whose quote the datapath translates: an
// outer header without options and unfragmented, a quoted header without
// options that is no later fragment, quoting TCP, UDP or an echo request,
// with the 8 bytes after the quoted header in the frame.
func readICMPError(frame []byte) (icmpErr, bool) {
	if len(frame) < errInnerL4+8 {
		return icmpErr{}, false
	}
	ip, icmp, in, seg := frame[frames.EthLen:], frame[frames.EthLen+frames.IPv4Len:], frame[errInnerIP:], frame[errInnerL4:]
	if ip[0]&0x0f != 5 || ip[9] != protoICMP || binary.BigEndian.Uint16(ip[6:8])&(frames.IPv4MF|frames.IPv4Offset) != 0 {
		return icmpErr{}, false
	}
	if t := icmp[0]; t != frames.ICMPUnreach && t != frames.ICMPTimeExceeded && t != frames.ICMPParamProblem {
		return icmpErr{}, false
	}
	if in[0]&0x0f != 5 || binary.BigEndian.Uint16(in[6:8])&frames.IPv4Offset != 0 {
		return icmpErr{}, false
	}
	e := icmpErr{
		outerSrc: netip.AddrFrom4([4]byte(ip[12:16])), outerDst: netip.AddrFrom4([4]byte(ip[16:20])), proto: in[9],
	}
	src, dst := netip.AddrFrom4([4]byte(in[12:16])), netip.AddrFrom4([4]byte(in[16:20]))
	switch e.proto {
	case protoTCP, protoUDP:
		e.src, e.dst = ap(src, binary.BigEndian.Uint16(seg[0:2])), ap(dst, binary.BigEndian.Uint16(seg[2:4]))
	case protoICMP:
		if seg[0] != frames.ICMPEchoRequest {
			return icmpErr{}, false
		}
		e.src, e.dst = ap(src, binary.BigEndian.Uint16(seg[4:6])), ap(dst, 0)
	default:
		return icmpErr{}, false
	}
	return e, true
}

// isMalformed: an IPv4 header the host stack would drop, or whose
// lengths disagree with the frame.
func isMalformed(frame []byte) bool {
	ip := frame[frames.EthLen:]
	hlen, tot := int(ip[0]&0x0f)*4, int(binary.BigEndian.Uint16(ip[2:4]))
	return ip[0]>>4 != 4 || hlen < frames.IPv4Len || tot < hlen || tot > len(ip)
}

// setMAC writes a MAC at off (0: destination, 6: source).
func setMAC(out []byte, off int, mac net.HardwareAddr) { copy(out[off:off+6], mac) }
