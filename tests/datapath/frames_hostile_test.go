package datapath

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

// vlanTagged inserts an 802.1Q (tpid 0x8100) or 802.1ad (0x88a8) tag of
// VLAN 100 after the frame's MACs.
func vlanTagged(tpid uint16, frame []byte) []byte {
	b := slices.Clone(frame[:12])
	b = binary.BigEndian.AppendUint16(b, tpid)
	b = binary.BigEndian.AppendUint16(b, 100)
	return append(b, frame[12:]...)
}

// ipHeaderEdited applies edit to the IPv4 header of a copy of frame and
// makes its checksum right again, so only the edit is wrong.
func ipHeaderEdited(frame []byte, edit func(ip []byte)) []byte {
	b := slices.Clone(frame)
	ip := b[ethLen:]
	edit(ip)
	hlen := min(max(int(ip[0]&0x0f)*4, ipv4Len), len(ip))
	binary.BigEndian.PutUint16(ip[10:12], 0)
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:hlen]))
	return b
}

// withOptions inserts 4 bytes of IPv4 options (NOP NOP NOP end) into an
// IPv4 frame without options, with the header's length fields and
// checksum right; the L4 checksum does not cover them.
func withOptions(frame []byte) []byte {
	b := slices.Clone(frame[:ethLen+ipv4Len])
	b = append(b, 1, 1, 1, 0)
	b = append(b, frame[ethLen+ipv4Len:]...)
	return ipHeaderEdited(b, func(ip []byte) {
		ip[0] = 0x46
		binary.BigEndian.PutUint16(ip[2:4], binary.BigEndian.Uint16(ip[2:4])+4)
	})
}

// TestFromContainerHostileFrames: tagged frames (the tag in the frame; the
// receive path's untagging sets vlan_present, which BPF_PROG_TEST_RUN
// cannot, see the e2e test) and malformed IPv4 headers with the sender's
// right addresses are dropped and counted, never forwarded. An IPv4 frame
// shorter than Ethernet and an IPv4 header the kernel refuses to test-run
// (see checkCtx): TestHostileFramesDropped in tests/e2e sends those.
func TestFromContainerHostileFrames(t *testing.T) {
	toB := udpFrame(epA.IP, epB.IP, epA.MAC, epB.MAC)
	padded := append(slices.Clone(toB), make([]byte, 20)...) // trailing bytes beyond the total length are legal
	malformed := dropped("MALFORMED", fromContainer)
	tests := []struct {
		name     string
		frame    []byte
		verdict  uint32
		counters map[uint32]loader.Counters
	}{
		{"control: to a peer", toB, verdictRedirect,
			map[uint32]loader.Counters{epA.Slot: sent(toB), epB.Slot: received(toB)}},
		{"control: padded beyond the total length", padded, verdictRedirect,
			map[uint32]loader.Counters{epA.Slot: sent(padded), epB.Slot: received(padded)}},
		{"802.1Q tag", vlanTagged(0x8100, toB), verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("VLAN", fromContainer)}},
		{"802.1ad and 802.1Q tags (QinQ)", vlanTagged(0x88a8, vlanTagged(0x8100, toB)), verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("VLAN", fromContainer)}},
		{"header length 4 words", ipHeaderEdited(toB, func(ip []byte) { ip[0] = 0x44 }), verdictShot,
			map[uint32]loader.Counters{epA.Slot: malformed}},
		{"header length 0", ipHeaderEdited(toB, func(ip []byte) { ip[0] = 0x40 }), verdictShot,
			map[uint32]loader.Counters{epA.Slot: malformed}},
		{"version 6 in an IPv4 frame", ipHeaderEdited(toB, func(ip []byte) { ip[0] = 0x65 }), verdictShot,
			map[uint32]loader.Counters{epA.Slot: malformed}},
		{"total length beyond the frame", ipHeaderEdited(toB, func(ip []byte) {
			binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)+1))
		}), verdictShot, map[uint32]loader.Counters{epA.Slot: malformed}},
		{"total length shorter than the header", ipHeaderEdited(toB, func(ip []byte) {
			binary.BigEndian.PutUint16(ip[2:4], ipv4Len-1)
		}), verdictShot, map[uint32]loader.Counters{epA.Slot: malformed}},
		{"cut after the IPv4 header", toB[:ethLen+ipv4Len], verdictShot,
			map[uint32]loader.Counters{epA.Slot: malformed}},
		{"cut in the UDP header", toB[:ethLen+ipv4Len+3], verdictShot,
			map[uint32]loader.Counters{epA.Slot: malformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatapath(t)
			progs := load(t, d, epA)
			out := check(t, progs.FromContainer, tt.frame, tt.verdict)
			checkUnchanged(t, tt.frame, out)
			checkCounters(t, d, tt.counters)
		})
	}
}

// TestIPv4Options: packets with IPv4 options are translated like those
// without, their L4 header found after the options: a datagram to a
// published port from the wire, and one A masquerades.
func TestIPv4Options(t *testing.T) {
	t.Run("published port", func(t *testing.T) {
		f := newNAT(t)
		f.publish(t, mapping("", 5353, protoUDP, epA, 53))
		in := fromWire(protoUDP, "192.0.2.1", 5353)
		out := check(t, f.uplink, withOptions(in.frame()), verdictRedirect)
		checkChecksums(t, out)
		sameFrame(t, "translated datagram", out, withOptions(delivered(in, epA, 53).frame()))
	})
	t.Run("masquerade", func(t *testing.T) {
		f := newNAT(t)
		h := newHostNetns(t, f)
		h.do(t, func() {
			a := load(t, f.d, epA)
			p := fromA(protoUDP, 5353, ap(client, 53), 0)
			out := checkCtx(t, a.FromContainer, withOptions(p.frame()), h.ctxA(), verdictRedirect)
			port := binary.BigEndian.Uint16(out[ethLen+ipv4Len+4:])
			checkChecksums(t, out)
			sameFrame(t, "masqueraded datagram", out, withOptions(routed(p, port).frame()))
		})
	})
}

// TestUntranslatable: what masquerade cannot translate (a protocol without
// ports, a later fragment whose first was not seen) would leave through an
// uplink with A's own address: dropped and counted. To the host, or from a
// network without masquerade, it goes on as it is.
func TestUntranslatable(t *testing.T) {
	gre := func(dst []byte) []byte {
		return ether(gw1MAC, epA.MAC, etherIPv4, ipv4(epA.IP, keyIP(binary.NativeEndian.Uint32(dst)), 47, []byte("gre payload")))
	}
	c, g := client.As4(), gw1.As4()
	toClient, toGateway := gre(c[:]), gre(g[:])
	later := udpFragments(gw1MAC, epA.MAC, ap(epA.IP, 5000), ap(client, 53), 0)[1]
	noMasq := epA
	noMasq.NoMasquerade = true
	for _, tt := range []struct {
		name     string
		sender   loader.Endpoint
		frame    []byte
		verdict  uint32
		counters map[uint32]loader.Counters
	}{
		{"GRE out of the uplink", epA, toClient, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("UNTRANSLATABLE", fromContainer)}},
		{"a later fragment, its first unseen", epA, later, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("UNTRANSLATABLE", fromContainer)}},
		{"GRE to the gateway", epA, toGateway, verdictOK, map[uint32]loader.Counters{epA.Slot: sent(toGateway)}},
		{"GRE out of the uplink without masquerade", noMasq, toClient, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toClient)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newNAT(t)
			h := newHostNetns(t, f)
			h.do(t, func() {
				a := load(t, f.d, tt.sender)
				out := checkCtx(t, a.FromContainer, tt.frame, h.ctxA(), tt.verdict)
				checkUnchanged(t, tt.frame, out)
				checkCounters(t, f.d, tt.counters)
			})
		})
	}
}
