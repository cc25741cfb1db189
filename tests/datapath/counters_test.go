package datapath

import (
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

// TestEndpointsShareMaps loads the programs of A and B, each with its own
// identity compiled in, into one Datapath: both count into the instance's
// maps, each in its own slot, and each judges frames by its own identity.
func TestEndpointsShareMaps(t *testing.T) {
	d := newDatapath(t)
	a := load(t, d, epA)
	b := load(t, d, epB)

	aToB := udpFrame(epA.IP, epB.IP, epA.MAC, epB.MAC)
	bToA := pingFrame(epB.IP, epA.IP, epB.MAC, epA.MAC)
	bToOutside := udpFrame(epB.IP, outside, epB.MAC, gw1MAC)
	toB := udpFrame(outside, epB.IP, gw1MAC, epB.MAC)

	check(t, a.FromContainer, aToB, verdictRedirect)
	check(t, b.FromContainer, bToA, verdictRedirect)
	check(t, b.FromContainer, bToOutside, verdictOK)
	check(t, b.ToContainer, toB, verdictOK)
	// What one endpoint sends legitimately is spoofed from the other.
	check(t, b.FromContainer, aToB, verdictShot)
	check(t, a.FromContainer, bToA, verdictShot)

	checkCounters(t, d, map[uint32]loader.Counters{
		epA.Slot: {
			RxPackets: 1, RxBytes: uint64(len(bToA)),
			TxPackets: 1, TxBytes: uint64(len(aToB)),
			Drops: []loader.Drop{{Reason: "SPOOFED_MAC", Direction: fromContainer, Packets: 1}},
		},
		epB.Slot: {
			RxPackets: 2, RxBytes: uint64(len(aToB) + len(toB)),
			TxPackets: 2, TxBytes: uint64(len(bToA) + len(bToOutside)),
			Drops: []loader.Drop{{Reason: "SPOOFED_MAC", Direction: fromContainer, Packets: 1}},
		},
	})
}

// TestResetCounters zeroes one slot's packets, bytes and drops of both
// directions, leaves the other slots alone, and counting starts again from
// zero afterwards.
func TestResetCounters(t *testing.T) {
	internal := epA
	internal.Internal = true
	d := newDatapath(t)
	a := load(t, d, internal)
	b := load(t, d, epB)

	aToB := udpFrame(epA.IP, epB.IP, epA.MAC, epB.MAC)
	aToOutside := udpFrame(epA.IP, outside, epA.MAC, gw1MAC)
	fromGateway := pingFrame(gw1, epA.IP, gw1MAC, epA.MAC)
	fromOutside := udpFrame(outside, epA.IP, gw1MAC, epA.MAC)
	bToA := pingFrame(epB.IP, epA.IP, epB.MAC, epA.MAC)
	traffic := func() {
		t.Helper()
		check(t, a.FromContainer, aToB, verdictRedirect)
		check(t, a.FromContainer, aToOutside, verdictShot)
		check(t, a.ToContainer, fromGateway, verdictOK)
		check(t, a.ToContainer, fromOutside, verdictShot)
		check(t, b.FromContainer, bToA, verdictRedirect)
	}
	aCounters := loader.Counters{
		RxPackets: 2, RxBytes: uint64(len(fromGateway) + len(bToA)),
		TxPackets: 1, TxBytes: uint64(len(aToB)),
		Drops: []loader.Drop{
			{Reason: "INTERNAL_NETWORK", Direction: fromContainer, Packets: 1},
			{Reason: "INTERNAL_NETWORK", Direction: toContainer, Packets: 1},
		},
	}
	bCounters := loader.Counters{
		RxPackets: 1, RxBytes: uint64(len(aToB)),
		TxPackets: 1, TxBytes: uint64(len(bToA)),
	}

	traffic()
	checkCounters(t, d, map[uint32]loader.Counters{epA.Slot: aCounters, epB.Slot: bCounters})

	if err := d.ResetCounters(epA.Slot); err != nil {
		t.Fatalf("reset counters of slot %d: %v", epA.Slot, err)
	}
	checkCounters(t, d, map[uint32]loader.Counters{epB.Slot: bCounters})

	traffic()
	double := bCounters
	double.RxPackets, double.RxBytes = 2*bCounters.RxPackets, 2*bCounters.RxBytes
	double.TxPackets, double.TxBytes = 2*bCounters.TxPackets, 2*bCounters.TxBytes
	checkCounters(t, d, map[uint32]loader.Counters{epA.Slot: aCounters, epB.Slot: double})
}
