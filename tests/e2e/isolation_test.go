package e2e

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/ipam"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// settle lets frames in flight arrive before a receiver's counter is read.
func settle() { time.Sleep(tu.Scale(200 * time.Millisecond)) }

// silentReceiver watches ifname in the namespace at ns, by its kernel
// counter and by a capture, and returns a check that fails the test if
// anything arrived since the last check. ARP replies are let through: the
// receiver's own neighbour probes, answered by the datapath, bring them.
func silentReceiver(t *testing.T, ns, ifname, who string) func(what string) {
	t.Helper()
	var sniff *tu.Sniffer
	var before uint64
	start := func() {
		settle()
		var err error
		if sniff, err = tu.Sniff(ns, ifname); err != nil {
			t.Fatal(err)
		}
		before = tu.RxPackets(t, ns, ifname)
	}
	start()
	t.Cleanup(func() {
		if sniff != nil {
			sniff.Stop()
		}
	})
	return func(what string) {
		t.Helper()
		settle()
		rx := tu.RxPackets(t, ns, ifname) - before
		var got []string
		replies := uint64(0)
		for _, f := range sniff.Stop() {
			if tu.IsARPReply(f) {
				replies++
			} else {
				got = append(got, tu.Describe(f))
			}
		}
		sniff = nil
		if len(got) > 0 || rx > replies {
			t.Errorf("%s: %s received %d packets (%d ARP replies), want none: %v", what, who, rx, replies, got)
		}
		start()
	}
}

// dropRose fails the test unless container's drops for reason on network
// grew by at least min since before.
func dropRose(t *testing.T, in *tu.Instance, container, network, reason string, before uint64, min uint64) uint64 {
	t.Helper()
	now := in.Stats(container, network).Dropped(reason)
	if now < before+min {
		t.Errorf("%s's %s drops went %d -> %d, want at least +%d", container, reason, before, now, min)
	}
	return now
}

// TestIsolation: a container cannot reach a container of another network
// by IP, raw Ethernet or ARP; the receiver sees nothing and the sender's
// drop counters say why.
func TestIsolation(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "red")
		in.MustRun("network", "create", "blue")
		ra := in.CreateContainer("red-a", "--network", "red")
		rb := in.CreateContainer("red-b", "--network", "red")
		bx := in.CreateContainer("blue-x", "--network", "blue")
		epA, epB, epX := in.On(ra, "red"), in.On(rb, "red"), in.On(bx, "blue")

		// Controls: red-a's own network works, with ARP answered from the
		// maps: every neighbour is at the gateway's MAC, through which the
		// datapath hands frames to the peer.
		if err := tu.Ping(ra.Netns(), epB.IPAddress, answerWithin); err != nil {
			t.Errorf("red-a -> red-b: %v", err)
		}
		mac, err := tu.ResolveARP(ra.Netns(), "eth0", epA.MAC(), epA.IPAddress, epB.IPAddress, answerWithin)
		if gwMAC := ipam.MAC(netip.MustParseAddr(epA.Gateway)).String(); err != nil || mac.String() != gwMAC {
			t.Errorf("ARP for red-b: got %v, %v; want the gateway's %s", mac, err, gwMAC)
		}

		silent := silentReceiver(t, bx.Netns(), "eth0", "blue-x")
		other := in.Stats("red-a", "red").Dropped("OTHER_NETWORK")
		if err := unreachable(ra.Netns(), bx.Netns(), epX.IPAddress); err != nil {
			t.Error(err)
		}
		silent("ping, TCP and UDP from red-a")
		other = dropRose(t, in, "red-a", "red", "OTHER_NETWORK", other, 3)

		// An IPv4 frame sent straight to blue-x's MAC, past red-a's routing.
		ping := tu.IPv4Packet(epA.IPAddress, epX.IPAddress, 1, tu.EchoRequest(7, 1))
		if err := tu.SendFrame(ra.Netns(), "eth0", tu.EthernetFrame(epX.MAC(), epA.MAC(), 0x0800, ping)); err != nil {
			t.Fatal(err)
		}
		silent("IPv4 frame to blue-x's MAC")
		other = dropRose(t, in, "red-a", "red", "OTHER_NETWORK", other, 1)

		// A frame of another protocol addressed to blue-x's MAC.
		l3 := in.Stats("red-a", "red").Dropped("UNSUPPORTED_L3")
		raw := tu.EthernetFrame(epX.MAC(), epA.MAC(), 0x88b5, []byte("bpfnet-e2e raw frame"))
		if err := tu.SendFrame(ra.Netns(), "eth0", raw); err != nil {
			t.Fatal(err)
		}
		silent("raw Ethernet frame to blue-x's MAC")
		dropRose(t, in, "red-a", "red", "UNSUPPORTED_L3", l3, 1)

		// ARP: nobody answers for blue-x, not even the datapath.
		mac, err = tu.ResolveARP(ra.Netns(), "eth0", epA.MAC(), epA.IPAddress, epX.IPAddress, silentFor)
		if !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("ARP for blue-x from red-a: got %v, %v; want no answer", mac, err)
		}
		silent("ARP request for blue-x's address")
		dropRose(t, in, "red-a", "red", "OTHER_NETWORK", other, 1)

		// And the other way round.
		silentA := silentReceiver(t, ra.Netns(), "eth0", "red-a")
		if err := tu.Ping(bx.Netns(), epA.IPAddress, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("blue-x -> red-a: want no answer, got %v", err)
		}
		silentA("ping from blue-x")
	})
}

// TestICCDisabled: with icc=false the containers of a network cannot talk
// to each other, but each still reaches the gateway.
func TestICCDisabled(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "--opt", "icc=false", "quiet")
		q1 := in.CreateContainer("q1", "--network", "quiet")
		q2 := in.CreateContainer("q2", "--network", "quiet")
		ep1, ep2 := in.On(q1, "quiet"), in.On(q2, "quiet")

		for _, c := range []*tu.Container{q1, q2} {
			if err := tu.Ping(c.Netns(), ep1.Gateway, answerWithin); err != nil {
				t.Errorf("%s -> gateway %s: %v", c.Name, ep1.Gateway, err)
			}
		}
		silent := silentReceiver(t, q2.Netns(), "eth0", "q2")
		if err := unreachable(q1.Netns(), q2.Netns(), ep2.IPAddress); err != nil {
			t.Error(err)
		}
		silent("ping, TCP and UDP from q1")
		dropRose(t, in, "q1", "quiet", "ICC_DISABLED", 0, 3)
		if err := tu.Ping(q2.Netns(), ep1.IPAddress, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("q2 -> q1: want no answer, got %v", err)
		}
		dropRose(t, in, "q2", "quiet", "ICC_DISABLED", 0, 1)
	})
}

// outside gives the instance's host an uplink: 198.51.100.1/24 on a veth
// whose peer, 198.51.100.2, lives in a namespace "outside" that routes the
// container subnets back through the host. It returns the outside namespace.
func outside(t *testing.T, in *tu.Instance, name string) string {
	t.Helper()
	out := tu.NewNetns(t, in.Dir, name, nil)
	if err := tu.AddVeth(in.HostNetns, "uplink", "198.51.100.1/24", out, "198.51.100.2/24"); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"172.16.0.0/12", "192.168.0.0/16"} {
		if err := tu.AddRoute(out, dst, "198.51.100.1"); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestInternal: a container of an --internal network reaches its gateway
// but nothing outside its subnet (the host's address on another link, a
// machine beyond the host), even with a route of its own, and nothing from
// outside reaches it; a container of a normal network reaches the host's
// address on that other link.
func TestInternal(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		out := outside(t, in, "outside")
		in.MustRun("network", "create", "--internal", "priv")
		in.MustRun("network", "create", "pub")
		priv := in.CreateContainer("priv1", "--network", "priv")
		pub := in.CreateContainer("pub1", "--network", "pub")
		epPriv := in.On(priv, "priv")

		if err := tu.Ping(priv.Netns(), epPriv.Gateway, answerWithin); err != nil {
			t.Errorf("priv1 -> its gateway: %v", err)
		}
		if err := reach(pub.Netns(), in.HostNetns, "198.51.100.1"); err != nil {
			t.Errorf("pub1 -> the host's 198.51.100.1: %v", err)
		}

		// priv1 has no way out; give it one, as a hostile container could.
		if err := tu.AddRoute(priv.Netns(), "default", epPriv.Gateway); err != nil {
			t.Fatalf("add default route in priv1: %v", err)
		}
		silent := silentReceiver(t, out, "uplinkp", "the outside machine")
		if err := unreachable(priv.Netns(), out, "198.51.100.2"); err != nil {
			t.Error(err)
		}
		if err := tu.Ping(priv.Netns(), "198.51.100.1", silentFor); !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("priv1 -> host's 198.51.100.1: want no answer, got %v", err)
		}
		silent("ping, TCP and UDP from priv1")
		dropRose(t, in, "priv1", "priv", "INTERNAL_NETWORK", 0, 4)

		// Inbound: from the host's outside address no; from the gateway yes.
		silentPriv := silentReceiver(t, priv.Netns(), "eth0", "priv1")
		if err := tu.PingFrom(in.HostNetns, "198.51.100.1", epPriv.IPAddress, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("host (from 198.51.100.1) -> priv1: want no answer, got %v", err)
		}
		silentPriv("ping from 198.51.100.1")
		in2 := in.Stats("priv1", "priv")
		inbound := uint64(0)
		for _, d := range in2.Drops {
			if d.Reason == "INTERNAL_NETWORK" && d.Direction == "to-container" {
				inbound = d.Packets
			}
		}
		if inbound == 0 {
			t.Errorf("no INTERNAL_NETWORK drop toward priv1: %+v", in2.Drops)
		}
		if err := tu.Ping(in.HostNetns, epPriv.IPAddress, answerWithin); err != nil {
			t.Errorf("host (from the gateway) -> priv1: %v", err)
		}
	})
}

// TestSpoofing: frames with a source MAC, or packets with a source IP,
// that is not the container's own are dropped and counted; the would-be
// receiver sees nothing. The same frames with the true source get through.
func TestSpoofing(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "sp")
		s1 := in.CreateContainer("s1", "--network", "sp")
		s2 := in.CreateContainer("s2", "--network", "sp")
		s3 := in.CreateContainer("s3", "--network", "sp")
		ep1, ep2, ep3 := in.On(s1, "sp"), in.On(s2, "sp"), in.On(s3, "sp")
		echo := tu.EchoRequest(9, 1)
		fake := net.HardwareAddr{0x02, 0x42, 0xde, 0xad, 0xbe, 0xef}

		// Controls: the honest versions arrive.
		sniff, err := tu.Sniff(s2.Netns(), "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := tu.SendRawIPv4(s1.Netns(), tu.IPv4Packet(ep1.IPAddress, ep2.IPAddress, 1, echo)); err != nil {
			t.Fatal(err)
		}
		frame := tu.EthernetFrame(ep2.MAC(), ep1.MAC(), 0x0800, tu.IPv4Packet(ep1.IPAddress, ep2.IPAddress, 1, echo))
		if err := tu.SendFrame(s1.Netns(), "eth0", frame); err != nil {
			t.Fatal(err)
		}
		settle()
		if n := tu.CountIPv4(sniff.Stop(), ep1.IPAddress, ep2.IPAddress); n < 2 {
			t.Fatalf("honest raw packet and frame: s2 received %d, want 2", n)
		}

		silent := silentReceiver(t, s2.Netns(), "eth0", "s2")
		for _, src := range []string{ep3.IPAddress, "10.11.12.13"} {
			if err := tu.SendRawIPv4(s1.Netns(), tu.IPv4Packet(src, ep2.IPAddress, 1, echo)); err != nil {
				t.Fatal(err)
			}
		}
		silent("packets from s1 with source IPs of others")
		dropRose(t, in, "s1", "sp", "SPOOFED_IP", 0, 2)

		frame = tu.EthernetFrame(ep2.MAC(), fake, 0x0800, tu.IPv4Packet(ep1.IPAddress, ep2.IPAddress, 1, echo))
		if err := tu.SendFrame(s1.Netns(), "eth0", frame); err != nil {
			t.Fatal(err)
		}
		frame = tu.EthernetFrame(ep2.MAC(), ep3.MAC(), 0x0800, tu.IPv4Packet(ep1.IPAddress, ep2.IPAddress, 1, echo))
		if err := tu.SendFrame(s1.Netns(), "eth0", frame); err != nil {
			t.Fatal(err)
		}
		silent("frames from s1 with source MACs of others")
		dropRose(t, in, "s1", "sp", "SPOOFED_MAC", 0, 2)

		// ARP claiming s3's address gets no answer.
		if mac, err := tu.ResolveARP(s1.Netns(), "eth0", ep1.MAC(), ep3.IPAddress, ep2.IPAddress, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
			t.Errorf("ARP from s1 claiming %s: got %v, %v; want no answer", ep3.IPAddress, mac, err)
		}
		silent("ARP from s1 claiming s3's address")
		dropRose(t, in, "s1", "sp", "SPOOFED_ARP", 0, 1)
	})
}
