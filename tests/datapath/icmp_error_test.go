package datapath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/loader"
)

// router is a machine on the path that answers a packet with an ICMP error.
var router = netip.MustParseAddr("198.51.100.1")

const (
	icmpUnreach      = 3
	icmpTimeExceeded = 11
	codeFragNeeded   = 4
)

// icmpError is a frame from router to dst carrying an ICMP error that
// quotes ipPacket's header and the first 8 bytes after it (RFC 792's
// minimum, which leaves a TCP checksum out).
func icmpError(dst netip.Addr, typ, code uint8, ipPacket []byte) []byte {
	return icmpErrorFrame(upMAC, clientMAC, router, dst, 0, typ, code, ipPacket)
}

// icmpErrorFrame is icmpError with every outer field given; ttl 0 is 64.
func icmpErrorFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, ttl, typ, code uint8, ipPacket []byte) []byte {
	msg := make([]byte, 8, 8+ipv4Len+8)
	msg[0], msg[1] = typ, code
	if typ == icmpUnreach && code == codeFragNeeded {
		binary.BigEndian.PutUint16(msg[6:8], 1400) // next-hop MTU
	}
	msg = append(msg, ipPacket[:ipv4Len+8]...)
	binary.BigEndian.PutUint16(msg[2:4], checksum(msg))
	ip := ipv4(src, dst, protoICMP, msg)
	if ttl != 0 {
		ip[8] = ttl
		binary.BigEndian.PutUint16(ip[10:12], 0)
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ipv4Len]))
	}
	return ether(dstMAC, srcMAC, etherIPv4, ip)
}

// ipOf is the IPv4 packet of p's frame.
func ipOf(p packet) []byte { return p.frame()[14:] }

// errorToEndpoint is an error frame as the uplink must hand it to ep.
func errorToEndpoint(frame []byte, ep loader.Endpoint) []byte {
	copy(frame[:6], ep.MAC)
	return frame
}

// TestUplinkICMPError: errors about a container's translated flows reach
// the container about its own addresses and ports, with valid checksums;
// errors about no flow go to the host untouched. The flow's entry is not
// refreshed by an error.
func TestUplinkICMPError(t *testing.T) {
	masqTCP := packet{src: ap(hostIP, 61234), dst: ap(client, 7000), proto: protoTCP, tcpFlags: tcpSYN}
	masqUDP := packet{src: ap(hostIP, 64999), dst: ap(client, 53), proto: protoUDP}
	published := packet{src: ap(hostIP, 8080), dst: ap(client, 40000), proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
	unmasq := packet{src: ap(epA.IP, 50000), dst: ap(client, 7000), proto: protoTCP, tcpFlags: tcpSYN}
	as := func(p packet, src netip.AddrPort) packet { p.src = src; return p }
	// A UDP quote carries the datagram's checksum, which stays as sent.
	keepUDPChecksum := func(translated, sent packet) []byte {
		b := ipOf(translated)
		copy(b[ipv4Len+6:ipv4Len+8], ipOf(sent)[ipv4Len+6:ipv4Len+8])
		return b
	}
	for _, tt := range []struct {
		name    string
		entries []ctFlow
		in      []byte
		verdict uint32
		want    []byte // nil: unchanged
		to      *loader.Endpoint
	}{
		{"fragmentation needed, masqueraded tcp",
			[]ctFlow{{proto: protoTCP, src: masqTCP.dst, dst: masqTCP.src, kind: snatReply, nat: ap(epA.IP, 50000), life: 5 * time.Second}},
			icmpError(hostIP, icmpUnreach, codeFragNeeded, ipOf(masqTCP)), verdictRedirect,
			errorToEndpoint(icmpError(epA.IP, icmpUnreach, codeFragNeeded, ipOf(as(masqTCP, ap(epA.IP, 50000)))), epA), &epA},
		{"ttl exceeded, masqueraded udp",
			[]ctFlow{{proto: protoUDP, src: masqUDP.dst, dst: masqUDP.src, kind: snatReply, nat: ap(epA.IP, 5353), life: 5 * time.Second}},
			icmpError(hostIP, icmpTimeExceeded, 0, ipOf(masqUDP)), verdictRedirect,
			errorToEndpoint(icmpError(epA.IP, icmpTimeExceeded, 0, keepUDPChecksum(as(masqUDP, ap(epA.IP, 5353)), masqUDP)), epA), &epA},
		{"unreachable, reply of a published port",
			[]ctFlow{{proto: protoTCP, src: ap(epB.IP, 80), dst: published.dst, kind: dnatReply, nat: published.src, life: 5 * time.Second}},
			icmpError(hostIP, icmpUnreach, 1, ipOf(published)), verdictRedirect,
			errorToEndpoint(icmpError(epB.IP, icmpUnreach, 1, ipOf(as(published, ap(epB.IP, 80)))), epB), &epB},
		{"unmasqueraded flow", []ctFlow{{proto: protoTCP, src: unmasq.dst, dst: unmasq.src, kind: routedReply, nat: unmasq.src, life: 5 * time.Second}},
			icmpError(epA.IP, icmpUnreach, codeFragNeeded, ipOf(unmasq)), verdictRedirect,
			errorToEndpoint(icmpError(epA.IP, icmpUnreach, codeFragNeeded, ipOf(unmasq)), epA), &epA},
		{"no flow", nil, icmpError(hostIP, icmpUnreach, codeFragNeeded, ipOf(masqTCP)), verdictOK, nil, nil},
		{"published port without its flow", nil, icmpError(hostIP, icmpUnreach, 1, ipOf(published)), verdictOK, nil, nil},
		{"published port, flow through another host address",
			[]ctFlow{{proto: protoTCP, src: ap(epB.IP, 80), dst: published.dst, kind: dnatReply, nat: ap(netip.MustParseAddr("192.0.2.3"), 8080), life: 5 * time.Second}},
			icmpError(hostIP, icmpUnreach, 1, ipOf(published)), verdictOK, nil, nil},
		{"flow expired",
			[]ctFlow{{proto: protoTCP, src: masqTCP.dst, dst: masqTCP.src, kind: snatReply, nat: ap(epA.IP, 50000)}},
			icmpError(hostIP, icmpUnreach, codeFragNeeded, ipOf(masqTCP)), verdictOK, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			f.publish(t, mapping("", 8080, protoTCP, epB, 80))
			for _, e := range tt.entries {
				f.putCT(t, e)
			}
			out := check(t, f.uplink, tt.in, tt.verdict)
			if tt.want == nil {
				checkUnchanged(t, tt.in, out)
				checkCounters(t, f.d, nil)
			} else {
				checkChecksums(t, out)
				if string(out) != string(tt.want) {
					t.Errorf("error as delivered:\n got % x\nwant % x", out, tt.want)
				}
				checkCounters(t, f.d, map[uint32]loader.Counters{tt.to.Slot: received(tt.in)})
			}
			f.checkCT(t, tt.entries...)
		})
	}
}

// TestUplinkICMPErrorAboutPing: an error about a masqueraded echo request
// gets the container's identifier back; the quoted echo's own checksum is
// left as the router sent it.
func TestUplinkICMPErrorAboutPing(t *testing.T) {
	f := newNAT(t)
	entry := ctFlow{proto: protoICMP, src: ap(client, 0), dst: ap(hostIP, 61500), kind: snatReply, nat: ap(epA.IP, 77), life: 5 * time.Second}
	f.putCT(t, entry)
	quoted := ipv4(hostIP, client, protoICMP, icmpEcho(61500, 1, []byte("ping")))
	in := icmpError(hostIP, icmpUnreach, 1, quoted)
	out := check(t, f.uplink, in, verdictRedirect)

	want := ipv4(epA.IP, client, protoICMP, icmpEcho(77, 1, []byte("ping")))
	copy(want[ipv4Len+2:ipv4Len+4], quoted[ipv4Len+2:ipv4Len+4])
	if wantFrame := errorToEndpoint(icmpError(epA.IP, icmpUnreach, 1, want), epA); string(out) != string(wantFrame) {
		t.Errorf("error as delivered:\n got % x\nwant % x", out, wantFrame)
	}
	checkChecksums(t, out)
	f.checkCT(t, entry)
}

// TestContainerICMPError: A answers a datagram that reached it through a
// published port (or as the reply of a masqueraded flow) with port
// unreachable; A's program sends the error out of the uplink as the host
// would have: from the host's address, quoting the address and port the
// sender used, TTL decremented, MACs of the route. Errors about flows A
// did not get translated would leave with A's own address: dropped.
func TestContainerICMPError(t *testing.T) {
	toA := packet{src: ap(client, 40000), dst: ap(epA.IP, 53), proto: protoUDP}
	seenAs := func(p packet, dst netip.AddrPort) []byte {
		b := ipOf(p)
		q := p
		q.dst = dst
		out := ipOf(q)
		copy(out[ipv4Len+6:ipv4Len+8], b[ipv4Len+6:ipv4Len+8]) // the datagram's checksum stays
		return out
	}
	for _, tt := range []struct {
		name    string
		entry   *ctFlow
		verdict uint32
		wantAs  netip.AddrPort // the quote's destination as the client knows it
	}{
		{"published port", &ctFlow{proto: protoUDP, src: toA.dst, dst: toA.src, kind: dnatReply, nat: ap(hostIP, 5353), life: 5 * time.Second},
			verdictRedirect, ap(hostIP, 5353)},
		{"reply of a masqueraded flow", &ctFlow{proto: protoUDP, src: toA.dst, dst: toA.src, kind: snatOrig, nat: ap(hostIP, 62000), life: 5 * time.Second},
			verdictRedirect, ap(hostIP, 62000)},
		{"no translated flow", nil, verdictShot, netip.AddrPort{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			h := newHostNetns(t, f)
			if tt.entry != nil {
				f.putCT(t, *tt.entry)
			}
			h.do(t, func() {
				a := load(t, f.d, epA)
				in := icmpErrorFrame(gw1MAC, epA.MAC, epA.IP, client, 0, icmpUnreach, 3, ipOf(toA))
				out := checkCtx(t, a.FromContainer, in, h.ctxA(), tt.verdict)
				if tt.entry == nil {
					// Out of the uplink it would show A's own address.
					checkUnchanged(t, in, out)
					checkCounters(t, f.d, map[uint32]loader.Counters{epA.Slot: dropped("UNTRANSLATABLE", fromContainer)})
					return
				}
				want := icmpErrorFrame(clientMAC, upMAC, hostIP, client, 63, icmpUnreach, 3, seenAs(toA, tt.wantAs))
				checkChecksums(t, out)
				if string(out) != string(want) {
					t.Errorf("error as sent out:\n got % x\nwant % x", out, want)
				}
				f.checkCT(t, *tt.entry)
			})
		})
	}
}
