package datapath

import (
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

// ipv6Stub is an IPv6 header with no payload, fe80::242:ac12:2 to ff02::1.
func ipv6Stub() []byte {
	b := make([]byte, 40)
	b[0] = 0x60 // version 6
	b[6] = 59   // no next header
	b[7] = 64   // hop limit
	b[8], b[9] = 0xfe, 0x80
	copy(b[18:24], epA.MAC)
	b[24], b[25], b[39] = 0xff, 0x02, 0x01 // ff02::1
	return b
}

// TestFromContainer runs bpfnet_from_container of endpoint A (or A on a
// network with other flags) on IPv4 and non-ARP frames. Every frame is
// judged, never rewritten.
func TestFromContainer(t *testing.T) {
	iccDisabled := epA
	iccDisabled.ICCDisabled = true
	internal := epA
	internal.Internal = true

	toB := udpFrame(epA.IP, epB.IP, epA.MAC, epB.MAC)
	pingB := pingFrame(epA.IP, epB.IP, epA.MAC, epB.MAC)
	toGateway := pingFrame(epA.IP, gw1, epA.MAC, gw1MAC)
	toOutside := udpFrame(epA.IP, outside, epA.MAC, gw1MAC)
	toC := udpFrame(epA.IP, epC.IP, epA.MAC, gw1MAC)
	toUnknown := udpFrame(epA.IP, unknown, epA.MAC, gw1MAC)
	spoofedMAC := udpFrame(epA.IP, outside, strangerMAC, gw1MAC)
	spoofedIP := udpFrame(unknown, outside, epA.MAC, gw1MAC)
	asB := udpFrame(epB.IP, epD.IP, epA.MAC, epD.MAC)
	raw := pad(ether(broadcastMAC, epA.MAC, etherRaw, []byte("raw ethernet")))
	ipv6 := ether(broadcastMAC, epA.MAC, etherIPv6, ipv6Stub())
	rawSpoofed := pad(ether(broadcastMAC, strangerMAC, etherRaw, []byte("raw ethernet")))

	tests := []struct {
		name    string
		sender  loader.Endpoint
		frame   []byte
		verdict uint32
		// counters by slot; slots not listed must stay at zero.
		counters map[uint32]loader.Counters
	}{
		// Forwarding: B's rx proves the redirect went to B's entry, not D's.
		{"udp to same-network peer", epA, toB, verdictRedirect,
			map[uint32]loader.Counters{epA.Slot: sent(toB), epB.Slot: received(toB)}},
		{"ping to same-network peer", epA, pingB, verdictRedirect,
			map[uint32]loader.Counters{epA.Slot: sent(pingB), epB.Slot: received(pingB)}},
		{"to gateway", epA, toGateway, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toGateway)}},
		{"to outside address", epA, toOutside, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toOutside)}},
		{"to unknown address of the subnet", epA, toUnknown, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toUnknown)}},
		{"to other network's endpoint", epA, toC, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("OTHER_NETWORK", fromContainer)}},

		// Network flags.
		{"icc disabled: to peer", iccDisabled, toB, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("ICC_DISABLED", fromContainer)}},
		{"icc disabled: to gateway", iccDisabled, toGateway, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toGateway)}},
		{"icc disabled: to outside address", iccDisabled, toOutside, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toOutside)}},
		{"internal: to outside address", internal, toOutside, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("INTERNAL_NETWORK", fromContainer)}},
		{"internal: to gateway", internal, toGateway, verdictOK,
			map[uint32]loader.Counters{epA.Slot: sent(toGateway)}},
		{"internal: to same-network peer", internal, toB, verdictRedirect,
			map[uint32]loader.Counters{epA.Slot: sent(toB), epB.Slot: received(toB)}},

		// Anti-spoofing and protocols.
		{"spoofed source MAC", epA, spoofedMAC, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_MAC", fromContainer)}},
		{"spoofed source MAC on raw ethernet", epA, rawSpoofed, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_MAC", fromContainer)}},
		{"spoofed source IP", epA, spoofedIP, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_IP", fromContainer)}},
		{"source IP of a peer", epA, asB, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_IP", fromContainer)}},
		{"raw ethernet 0x88b5", epA, raw, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("UNSUPPORTED_L3", fromContainer)}},
		{"ipv6", epA, ipv6, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("UNSUPPORTED_L3", fromContainer)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatapath(t)
			progs := load(t, d, tt.sender)
			out := check(t, progs.FromContainer, tt.frame, tt.verdict)
			checkUnchanged(t, tt.frame, out) // peers get frames as sent (see to_peer)
			checkCounters(t, d, tt.counters)
		})
	}
}

// TestFromContainerTruncatedIPv4 sends IPv4 frames too short for an IPv4
// header; they must be dropped as MALFORMED, not read past their end.
func TestFromContainerTruncatedIPv4(t *testing.T) {
	full := udpFrame(epA.IP, outside, epA.MAC, gw1MAC)
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"ethernet header only", full[:ethLen]},
		{"ipv4 header one byte short", full[:ethLen+19]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatapath(t)
			progs := load(t, d, epA)
			out := check(t, progs.FromContainer, tt.frame, verdictShot)
			checkUnchanged(t, tt.frame, out)
			checkCounters(t, d, map[uint32]loader.Counters{epA.Slot: dropped("MALFORMED", fromContainer)})
		})
	}
}
