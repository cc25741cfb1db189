package datapath

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

// reply is the ARP reply A should get for a request about ip: from the
// answered MAC to A, "ip is at answer", padded like the request to the
// Ethernet minimum.
func reply(answer net.HardwareAddr, ip netip.Addr) []byte {
	return pad(ether(epA.MAC, answer, etherARP, arp(arpHwEther, arpOpReply, answer, ip, epA.MAC, epA.IP)))
}

// TestFromContainerARP runs bpfnet_from_container of endpoint A on ARP
// frames. Requests it answers come back rewritten into the reply and
// redirected to the veth they came from; everything else is judged only.
func TestFromContainerARP(t *testing.T) {
	forGateway := arpRequest(epA.MAC, epA.IP, gw1)
	forPeer := arpRequest(epA.MAC, epA.IP, epB.IP)
	forPeerUnpadded := forPeer[:ethLen+arpLen]
	forOtherNetwork := arpRequest(epA.MAC, epA.IP, epC.IP)
	forUnknown := arpRequest(epA.MAC, epA.IP, unknown)
	// A answers a request of the gateway's (the host's) about its address.
	fromA := pad(ether(gw1MAC, epA.MAC, etherARP, arp(arpHwEther, arpOpReply, epA.MAC, epA.IP, gw1MAC, gw1)))
	ieee802 := pad(ether(broadcastMAC, epA.MAC, etherARP,
		arp(6, arpOpRequest, epA.MAC, epA.IP, make(net.HardwareAddr, 6), gw1)))
	spoofedMAC := pad(ether(broadcastMAC, epA.MAC, etherARP,
		arp(arpHwEther, arpOpRequest, strangerMAC, epA.IP, make(net.HardwareAddr, 6), gw1)))
	spoofedIP := arpRequest(epA.MAC, epB.IP, gw1)
	// Only the ARP sender is forged: the Ethernet source is A's.
	spoofedReply := pad(ether(gw1MAC, epA.MAC, etherARP, arp(arpHwEther, arpOpReply, epA.MAC, epD.IP, gw1MAC, gw1)))
	short := forGateway[:ethLen+20]

	tests := []struct {
		name    string
		frame   []byte
		verdict uint32
		// want is the frame after the program: nil for unchanged.
		want []byte
		// counters by slot; slots not listed must stay at zero.
		counters map[uint32]loader.Counters
	}{
		{"request for gateway", forGateway, verdictRedirect, reply(gw1MAC, gw1),
			map[uint32]loader.Counters{epA.Slot: sent(forGateway)}},
		{"request for same-network peer", forPeer, verdictRedirect, reply(gw1MAC, epB.IP),
			map[uint32]loader.Counters{epA.Slot: sent(forPeer)}},
		{"unpadded request for same-network peer", forPeerUnpadded, verdictRedirect,
			reply(gw1MAC, epB.IP)[:ethLen+arpLen],
			map[uint32]loader.Counters{epA.Slot: sent(forPeerUnpadded)}},
		// Dropped requests are not counted as sent, as no other drop is.
		{"request for other network's endpoint", forOtherNetwork, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("OTHER_NETWORK", fromContainer)}},
		{"request for unknown address", forUnknown, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("UNKNOWN_NEIGHBOR", fromContainer)}},
		{"reply from the container", fromA, verdictOK, nil,
			map[uint32]loader.Counters{epA.Slot: sent(fromA)}},
		{"hardware type IEEE 802", ieee802, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("UNSUPPORTED_ARP", fromContainer)}},
		{"spoofed sender MAC", spoofedMAC, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_ARP", fromContainer)}},
		{"spoofed sender IP", spoofedIP, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_ARP", fromContainer)}},
		{"reply with spoofed sender IP", spoofedReply, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("SPOOFED_ARP", fromContainer)}},
		{"truncated", short, verdictShot, nil,
			map[uint32]loader.Counters{epA.Slot: dropped("MALFORMED", fromContainer)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatapath(t)
			progs := load(t, d, epA)
			out := check(t, progs.FromContainer, tt.frame, tt.verdict)
			if tt.want == nil {
				checkUnchanged(t, tt.frame, out)
			} else if !bytes.Equal(out, tt.want) {
				t.Errorf("reply:\n got % x\nwant % x", out, tt.want)
			}
			checkCounters(t, d, tt.counters)
		})
	}
}
