package e2e

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/ipam"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestHostileFramesDropped: frames a container sends with its own right
// addresses but an 802.1Q or 802.1ad tag, or an IPv4 header cut short or
// lying about its length, reach no peer; the sender's drops say why. A
// tagged frame loses its (outer) tag in the receive path before tc sees
// it, so this is the test of the vlan_present check; a frame shorter than
// an IPv4 header is one BPF_PROG_TEST_RUN refuses to run.
func TestHostileFramesDropped(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "pub")
	a := in.CreateContainer("sender", "--network", "pub")
	b := in.CreateContainer("peer", "--network", "pub")
	epA, epB := in.On(a, "pub"), in.On(b, "pub")
	udp := tu.IPv4Packet(epA.IPAddress, epB.IPAddress, 17, tu.UDPDatagram(40000, 53, []byte("bpfnet-e2e hostile")))
	// To the gateway's MAC, as a container's stack sends to a neighbour (ARP
	// answers the gateway's MAC for every peer; 5.10 delivers only those).
	gwMAC := ipam.MAC(netip.MustParseAddr(epA.Gateway))
	toB := tu.EthernetFrame(gwMAC, epA.MAC(), 0x0800, udp)
	tagged := func(tpid uint16, frame []byte) []byte {
		f := slices.Clone(frame[:12])
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, 100)
		return append(f, frame[12:]...)
	}
	long := slices.Clone(toB)
	binary.BigEndian.PutUint16(long[14+2:], uint16(len(udp)+100)) // more than the frame holds
	binary.BigEndian.PutUint16(long[14+10:], 0)
	binary.BigEndian.PutUint16(long[14+10:], ipChecksum(long[14:34]))

	// Control: the same datagram untagged reaches b.
	srv := tu.Serve(t, b.Netns(), "udp", ":53")
	if err := tu.SendFrame(a.Netns(), "eth0", toB); err != nil {
		t.Fatal(err)
	}
	within(t, "the control datagram at b", func() bool { return len(srv.Peers()) == 1 })

	silent := silentReceiver(t, b.Netns(), "eth0", "b")
	vlan := in.Stats("sender", "pub").Dropped("VLAN")
	malformed := in.Stats("sender", "pub").Dropped("MALFORMED")
	for _, f := range [][]byte{tagged(0x8100, toB), tagged(0x88a8, tagged(0x8100, toB))} {
		if err := tu.SendFrame(a.Netns(), "eth0", f); err != nil {
			t.Fatal(err)
		}
	}
	// Not padded to 60 bytes: a veth carries what the sender wrote.
	for _, f := range [][]byte{toB[:14+10], toB[:14+19], long} {
		if err := tu.SendFrame(a.Netns(), "eth0", f); err != nil {
			t.Fatal(err)
		}
	}
	silent("tagged, truncated and overlong IPv4 frames from a")
	dropRose(t, in, "sender", "pub", "VLAN", vlan, 2)
	dropRose(t, in, "sender", "pub", "MALFORMED", malformed, 3)
	if got := srv.Peers(); len(got) != 1 {
		t.Errorf("b's server got %v, want only the control datagram", got)
	}
}

// within waits up to answerWithin for cond.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(answerWithin)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, answerWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
