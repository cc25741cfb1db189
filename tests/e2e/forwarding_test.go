package e2e

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// Bounds of every probe: how long a working path may take to answer, and
// how long a blocked one is watched for an answer that must not come.
var (
	answerWithin = tu.Scale(5 * time.Second)
	silentFor    = tu.Scale(1 * time.Second)
)

// reach checks ping, TCP and UDP from the namespace at from to ip in the
// namespace at to, and returns the first failure.
func reach(from, to, ip string) error {
	if err := tu.Ping(from, ip, answerWithin); err != nil {
		return err
	}
	return talk(from, to, ip)
}

// talk checks a TCP and a UDP exchange from the namespace at from with a
// server on ip in the namespace at to.
func talk(from, to, ip string) error {
	for _, proto := range []string{"tcp", "udp"} {
		srv, addr, err := tu.Listen(to, proto, ip)
		if err != nil {
			return fmt.Errorf("listen %s on %s: %w", proto, ip, err)
		}
		err = tu.Echo(from, proto, addr, answerWithin)
		srv.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// unreachable checks that ping, TCP and UDP from the namespace at from to ip
// in the namespace at to all get no answer; any other outcome is returned
// as an error.
func unreachable(from, to, ip string) error {
	var errs []error
	if err := tu.Ping(from, ip, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
		errs = append(errs, fmt.Errorf("ping %s: want no answer, got %v", ip, err))
	}
	for _, proto := range []string{"tcp", "udp"} {
		srv, addr, err := tu.Listen(to, proto, ip)
		if err != nil {
			return fmt.Errorf("listen %s on %s: %w", proto, ip, err)
		}
		err = tu.Echo(from, proto, addr, silentFor)
		srv.Close()
		if !errors.Is(err, tu.ErrNoAnswer) {
			errs = append(errs, fmt.Errorf("%s to %s: want no answer, got %v", proto, addr, err))
		}
	}
	return errors.Join(errs...)
}

// TestSameNetwork: two containers of one network ping each other and talk
// TCP and UDP both ways, through the programs of the requested attach mode,
// and bpfnet's counters of both rise.
func TestSameNetwork(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "front")
		a := in.CreateContainer("alpha", "--network", "front")
		b := in.CreateContainer("beta", "--network", "front")
		epA, epB := in.On(a, "front"), in.On(b, "front")
		for _, c := range []string{"alpha", "beta"} {
			in.CheckAttached(in.Stats(c, "front").Endpoint.HostIfname)
		}
		before := map[string]tu.EndpointStats{"alpha": in.Stats("alpha", "front"), "beta": in.Stats("beta", "front")}
		sniffA, err := tu.Sniff(a.Netns(), "eth0")
		if err != nil {
			t.Fatal(err)
		}
		sniffB, err := tu.Sniff(b.Netns(), "eth0")
		if err != nil {
			t.Fatal(err)
		}

		if err := reach(a.Netns(), b.Netns(), epB.IPAddress); err != nil {
			t.Errorf("a -> b: %v", err)
		}
		if err := reach(b.Netns(), a.Netns(), epA.IPAddress); err != nil {
			t.Errorf("b -> a: %v", err)
		}

		// Each side's eth0 got the other's packets: ping, TCP, UDP, both ways.
		if n := tu.CountIPv4(sniffA.Stop(), epB.IPAddress, epA.IPAddress); n < 6 {
			t.Errorf("alpha's eth0 received %d packets from beta, want at least 6", n)
		}
		if n := tu.CountIPv4(sniffB.Stop(), epA.IPAddress, epB.IPAddress); n < 6 {
			t.Errorf("beta's eth0 received %d packets from alpha, want at least 6", n)
		}
		for name, old := range before {
			now := in.Stats(name, "front")
			// Each direction carried at least a ping, a TCP exchange and a UDP one.
			if now.TxPackets < old.TxPackets+3 || now.RxPackets < old.RxPackets+3 ||
				now.TxBytes <= old.TxBytes || now.RxBytes <= old.RxBytes {
				t.Errorf("counters of %s did not rise: before %+v, after %+v", name, old, now)
			}
			if len(now.Drops) != 0 {
				t.Errorf("%s: unexpected drops %+v", name, now.Drops)
			}
		}
		// The host reaches the containers through the gateway address.
		if err := tu.Ping(a.Netns(), epA.Gateway, answerWithin); err != nil {
			t.Errorf("a -> gateway: %v", err)
		}
		if err := tu.Ping(in.HostNetns, epB.IPAddress, answerWithin); err != nil {
			t.Errorf("host -> b: %v", err)
		}
	})
}

// TestBeyondHost: a container of a normal network reaches a machine beyond
// the host (an "outside" namespace behind the host's uplink) by TCP, UDP
// and ping, as a Docker container does.
func TestBeyondHost(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		out := outside(t, in, "outside")
		in.MustRun("network", "create", "front")
		c := in.CreateContainer("web", "--network", "front")
		t.Run("tcp-udp", func(t *testing.T) {
			if err := talk(c.Netns(), out, "198.51.100.2"); err != nil {
				t.Errorf("web -> 198.51.100.2: %v", err)
			}
		})
		t.Run("ping", func(t *testing.T) {
			if err := tu.Ping(c.Netns(), "198.51.100.2", answerWithin); err != nil {
				t.Errorf("web -> 198.51.100.2: %v; web's drops: %+v", err, in.Stats("web", "front").Drops)
			}
		})
	})
}

// TestMultiNetwork: `network connect` gives a container one more interface
// on the other network, with which it talks to that network's containers
// while keeping the first; `disconnect` takes it away again.
func TestMultiNetwork(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "net1")
		in.MustRun("network", "create", "net2")
		c1 := in.CreateContainer("c1", "--network", "net1")
		peer1 := in.CreateContainer("peer1", "--network", "net1")
		peer2 := in.CreateContainer("peer2", "--network", "net2")
		ip1, ip2 := in.On(peer1, "net1").IPAddress, in.On(peer2, "net2").IPAddress

		in.MustRun("network", "connect", "net2", "c1")
		c1 = in.Inspect("c1")
		ep := in.On(c1, "net2")
		if ep.Interface != "eth1" {
			t.Errorf("c1's endpoint on net2 is %q, want eth1", ep.Interface)
		}
		addrs, err := tu.AddrsOf(c1.Netns(), "eth1")
		want := fmt.Sprintf("%s/%d", ep.IPAddress, ep.IPPrefixLen)
		if err != nil || !slices.Contains(addrs, want) {
			t.Fatalf("c1's eth1 addresses %v (%v), want %s", addrs, err, want)
		}
		if sub := subnetOf(t, in, "net2"); !sub.Contains(net.ParseIP(ep.IPAddress)) {
			t.Errorf("c1's net2 address %s is outside net2's %v", ep.IPAddress, sub)
		}
		if err := reach(c1.Netns(), peer1.Netns(), ip1); err != nil {
			t.Errorf("c1 -> peer1 on net1: %v", err)
		}
		if err := reach(c1.Netns(), peer2.Netns(), ip2); err != nil {
			t.Errorf("c1 -> peer2 on net2: %v", err)
		}
		if err := reach(peer2.Netns(), c1.Netns(), ep.IPAddress); err != nil {
			t.Errorf("peer2 -> c1 on net2: %v", err)
		}

		in.MustRun("network", "disconnect", "net2", "c1")
		if links, _ := tu.Links(c1.Netns()); slices.Contains(links, "eth1") {
			t.Errorf("eth1 still in c1 after disconnect: %v", links)
		}
		if _, ok := in.Inspect("c1").Settings.Networks["net2"]; ok {
			t.Errorf("c1 still shows net2 after disconnect")
		}
		if err := unreachable(c1.Netns(), peer2.Netns(), ip2); err != nil {
			t.Errorf("c1 -> peer2 after disconnect: %v", err)
		}
		if err := reach(c1.Netns(), peer1.Netns(), ip1); err != nil {
			t.Errorf("c1 -> peer1 after disconnect: %v", err)
		}
	})
}

func subnetOf(t *testing.T, in *tu.Instance, network string) *net.IPNet {
	t.Helper()
	var nets []struct {
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
	}
	in.MustJSON(&nets, "network", "inspect", network)
	if len(nets) != 1 || len(nets[0].IPAM.Config) != 1 {
		t.Fatalf("network inspect %s: %+v", network, nets)
	}
	_, sub, err := net.ParseCIDR(nets[0].IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestConnectWhileStreaming: connecting and disconnecting a third container
// to the network of a running TCP stream does not disturb the stream.
func TestConnectWhileStreaming(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "net1")
		in.MustRun("network", "create", "net2")
		srv := in.CreateContainer("srv", "--network", "net1")
		cli := in.CreateContainer("cli", "--network", "net1")
		in.CreateContainer("third", "--network", "net2")

		l, addr, err := tu.Listen(srv.Netns(), "tcp", in.On(srv, "net1").IPAddress)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		conn, err := tu.Dial(cli.Netns(), "tcp", addr, answerWithin)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()

		type result struct {
			n   int
			err error
		}
		stop, done := make(chan struct{}), make(chan result, 1)
		go func() {
			n, err := tu.Stream(conn, stop, tu.Scale(time.Second))
			done <- result{n, err}
		}()
		// At least 2 s and 3 connect/disconnect cycles, at most 20 s.
		var ops []string
		start := time.Now()
		for cycles := 0; cycles < 3 || time.Since(start) < 2*time.Second; cycles++ {
			if time.Since(start) > tu.Scale(20*time.Second) {
				t.Errorf("only %d connect/disconnect cycles in %v", cycles, time.Since(start))
				break
			}
			for _, verb := range []string{"connect", "disconnect"} {
				if r := in.Run("network", verb, "net1", "third"); r.Code != 0 {
					t.Errorf("%v", r)
				}
				ops = append(ops, verb)
			}
		}
		close(stop)
		res := <-done
		t.Logf("%d round trips while third did %d connect/disconnects in %v", res.n, len(ops)/2, time.Since(start))
		if res.err != nil {
			t.Errorf("stream broke after %d round trips, during %s: %v", res.n, strings.Join(ops, ","), res.err)
		}
		if res.n < 10 {
			t.Errorf("only %d round trips in %v", res.n, time.Since(start))
		}
	})
}
