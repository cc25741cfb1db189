package datapath

import (
	"net"
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

// TestToContainer runs bpfnet_to_container of endpoint A, on a normal and
// on an internal network, on frames the host stack sends to A. Every frame
// is judged, never rewritten.
func TestToContainer(t *testing.T) {
	internal := epA
	internal.Internal = true

	fromOutside := udpFrame(outside, epA.IP, gw1MAC, epA.MAC)
	fromGateway := pingFrame(gw1, epA.IP, gw1MAC, epA.MAC)
	// B's packets reach A through the host when they are routed, e.g.
	// before B's programs are attached.
	fromPeer := udpFrame(epB.IP, epA.IP, gw1MAC, epA.MAC)
	fromOtherNetwork := udpFrame(epC.IP, epA.IP, gw1MAC, epA.MAC)
	arpFromHost := pad(ether(broadcastMAC, gw1MAC, etherARP,
		arp(arpHwEther, arpOpRequest, gw1MAC, gw1, make(net.HardwareAddr, 6), epA.IP)))

	tests := []struct {
		name     string
		receiver loader.Endpoint
		frame    []byte
		verdict  uint32
		// counters by slot; slots not listed must stay at zero.
		counters map[uint32]loader.Counters
	}{
		{"from outside address", epA, fromOutside, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(fromOutside)}},
		{"from gateway", epA, fromGateway, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(fromGateway)}},
		{"from other network's endpoint", epA, fromOtherNetwork, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(fromOtherNetwork)}},
		{"arp request from host", epA, arpFromHost, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(arpFromHost)}},

		{"internal: from outside address", internal, fromOutside, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("INTERNAL_NETWORK", toContainer)}},
		{"internal: from other network's endpoint", internal, fromOtherNetwork, verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("INTERNAL_NETWORK", toContainer)}},
		{"internal: from gateway", internal, fromGateway, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(fromGateway)}},
		{"internal: from same-network peer", internal, fromPeer, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(fromPeer)}},
		{"internal: arp request from host", internal, arpFromHost, verdictOK,
			map[uint32]loader.Counters{epA.Slot: received(arpFromHost)}},
		{"internal: truncated ipv4", internal, fromGateway[:ethLen+19], verdictShot,
			map[uint32]loader.Counters{epA.Slot: dropped("MALFORMED", toContainer)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatapath(t)
			progs := load(t, d, tt.receiver)
			out := check(t, progs.ToContainer, tt.frame, tt.verdict)
			checkUnchanged(t, tt.frame, out)
			checkCounters(t, d, tt.counters)
		})
	}
}
