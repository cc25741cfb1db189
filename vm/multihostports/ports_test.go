// Package multihostports is the published-port scenario of `make vm-test-multihost` (issue 5).
// host1 and host2 each run bpfnet in their root namespace (the default instance) with a
// container whose TCP and UDP ports are published; the client VM checks what another host sees:
//
//  1. a published port on a host's segment address answers, and the container's server sees the
//     client's own address (the source is preserved) -- checked on the host;
//  2. an unpublished port of the container is not reachable through the host's address (refused
//     or no answer) and the container's listener on it accepts nothing -- checked on the host;
//  3. the container's IP is not reachable directly, even with a route to its subnet via the host:
//     no answer, and the host's `bpfnet stats` counts NOT_PUBLISHED drops for the container;
//  4. the host itself reaches the published ports on 127.0.0.1 and on its own address;
//  5. the container reaches the client masqueraded: the client's server sees the host's segment
//     address as the source -- checked on the client.
//
// Every role asserts its own side; cluster.Barrier orders the phases. Outside such a run the test
// skips.
package multihostports

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/cli"
	"github.com/bpfnet/bpfnet/tests/testutil"
	"github.com/bpfnet/bpfnet/vm/cluster"
)

// TestMain: with testutil.EnvAsCLI=1 this binary is the bpfnet CLI (as in tests/e2e), otherwise
// it runs the scenario and waits for the other VMs (cluster.Main).
func TestMain(m *testing.M) {
	if os.Getenv(testutil.EnvAsCLI) == "1" {
		os.Exit(cli.Main(cli.DefaultEnv(), os.Args[1:]))
	}
	os.Exit(cluster.Main(m))
}

const (
	network   = "pub"
	container = "web"

	tcpPort, tcpHostPort = 80, 8080 // -p 8080:80
	udpPort, udpHostPort = 81, 8081 // -p 8081:81/udp
	tcpClosed, udpClosed = 82, 83   // listened on in the container, not published
	masqPort             = 7703     // the client's server for the containers' outgoing flows
)

// containerNet is each host's container network: the client knows it to route there directly.
var containerNet = map[string]struct {
	Subnet netip.Prefix
	IP     netip.Addr
}{
	"host1": {netip.MustParsePrefix("10.77.1.0/24"), netip.MustParseAddr("10.77.1.10")},
	"host2": {netip.MustParsePrefix("10.77.2.0/24"), netip.MustParseAddr("10.77.2.10")},
}

var hostRoles = []string{"host1", "host2"}

// barrier waits for every role; the wait is bounded and stretched by BPFNET_E2E_TIME_SCALE.
func barrier(t *testing.T, topo cluster.Topology, name string) {
	t.Helper()
	start := time.Now()
	if err := cluster.Barrier(topo, name, testutil.Scale(time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Logf("barrier %s passed after %v", name, time.Since(start).Round(10*time.Millisecond))
}

func TestPublishedPorts(t *testing.T) {
	topo := cluster.Skip(t)
	for _, r := range append([]string{"client"}, hostRoles...) {
		if r != topo.Self.Role {
			if _, ok := topo.Peer(r); !ok {
				t.Fatalf("this scenario needs the roles client, host1 and host2; %s is missing", r)
			}
		}
	}
	switch topo.Self.Role {
	case "host1", "host2":
		runHost(t, topo)
	case "client":
		runClient(t, topo)
	default:
		t.Fatalf("unknown role %s", topo.Self.Role)
	}
}

// host is one bpfnet host's side of the scenario.
type host struct {
	t      *testing.T
	topo   cluster.Topology
	netns  string // the container's namespace (SandboxKey)
	ip     netip.Addr
	tcp    *recorder // container :80, published as 8080
	udp    *recorder // container :81/udp, published as 8081
	closed *recorder // container :82, not published
	uclose *recorder // container :83/udp, not published
	drops0 uint64    // NOT_PUBLISHED drops before the client probed
}

// runHost: set up, let the client probe, check what arrived, then probe from the host itself and
// from the container. A failed setup still goes through every barrier, so the peers do not wait
// for it in vain; the client then reports what did not answer.
func runHost(t *testing.T, topo cluster.Topology) {
	h := &host{t: t, topo: topo}
	t.Cleanup(func() {
		if _, err := bpfnet("system", "reset", "-f"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	start := time.Now()
	err := h.setup()
	if err != nil {
		t.Errorf("%s setup: %v", topo.Self.Role, err)
	} else {
		t.Logf("%s: container %s (%s) with -p %d:%d -p %d:%d/udp ready in %v", topo.Self.Role, container, h.ip,
			tcpHostPort, tcpPort, udpHostPort, udpPort, time.Since(start).Round(10*time.Millisecond))
	}
	barrier(t, topo, "ports-ready")
	barrier(t, topo, "ports-probed") // the client has run its probes (1) to (3)
	if err == nil {
		t.Run("source-preserved", h.checkSourcePreserved)
		t.Run("unpublished-port", h.checkUnpublished)
		t.Run("not-published-drops", h.checkDrops)
		t.Run("host-local", h.checkHostLocal)
		t.Run("masquerade", h.dialClient)
	}
	barrier(t, topo, "masq-done") // the client has checked the masqueraded sources
}

func (h *host) setup() error {
	cn := containerNet[h.topo.Self.Role]
	if _, err := bpfnet("network", "create", "--subnet", cn.Subnet.String(), network); err != nil {
		return err
	}
	if _, err := bpfnet("container", "create", container, "--network", network, "--ip", cn.IP.String(),
		"-p", fmt.Sprintf("%d:%d", tcpHostPort, tcpPort),
		"-p", fmt.Sprintf("%d:%d/udp", udpHostPort, udpPort)); err != nil {
		return err
	}
	var cs []testutil.Container
	if err := bpfnetJSON(&cs, "container", "inspect", container); err != nil {
		return err
	}
	if len(cs) != 1 || cs[0].Netns() == "" {
		return fmt.Errorf("container inspect %s: want one container with a SandboxKey, got %+v", container, cs)
	}
	h.netns = cs[0].Netns()
	ep, ok := cs[0].Settings.Networks[network]
	if !ok || ep.IPAddress != cn.IP.String() {
		return fmt.Errorf("container %s on %s: endpoint %+v, want IP %s", container, network, ep, cn.IP)
	}
	h.ip = cn.IP
	ports, err := bpfnet("port", container)
	if err != nil {
		return err
	}
	h.t.Logf("bpfnet port %s:\n%s", container, strings.TrimSpace(ports))

	servers := []struct {
		rec     **recorder
		network string
		port    int
	}{
		{&h.tcp, "tcp", tcpPort}, {&h.udp, "udp", udpPort}, {&h.closed, "tcp", tcpClosed}, {&h.uclose, "udp", udpClosed},
	}
	for _, s := range servers {
		rec, c, err := serve(h.netns, s.network, fmt.Sprintf(":%d", s.port))
		if err != nil {
			return err
		}
		h.t.Cleanup(func() { c.Close() })
		*s.rec = rec
	}
	h.drops0, err = notPublishedDrops(container)
	return err
}

// checkSourcePreserved (1): the client's exchanges through the published ports reached the
// container with the client's own address as their source.
func (h *host) checkSourcePreserved(t *testing.T) {
	client, _ := h.topo.Peer("client")
	for _, c := range []struct {
		proto string
		rec   *recorder
	}{{"tcp", h.tcp}, {"udp", h.udp}} {
		got := c.rec.withPrefix("client " + c.proto + " published")
		if len(got) == 0 {
			t.Errorf("%s :%d in the container: nothing from the client through the published port; saw %+v",
				c.proto, map[string]int{"tcp": tcpPort, "udp": udpPort}[c.proto], c.rec.records())
		}
		for _, r := range got {
			if r.Peer != client.Addr {
				t.Errorf("%s: the container saw %q from %s, want the client's own address %s (source not preserved)",
					c.proto, r.Msg, r.Peer, client.Addr)
			} else {
				t.Logf("%s: the container saw %q from %s (the client)", c.proto, r.Msg, r.Peer)
			}
		}
		// (3): what the client sent straight to the container's IP must not have arrived.
		if direct := c.rec.withPrefix("client " + c.proto + " direct"); len(direct) > 0 {
			t.Errorf("%s: the container received traffic sent straight to its IP: %+v", c.proto, direct)
		}
	}
	for _, r := range h.tcp.records() {
		if r.Peer != client.Addr {
			t.Errorf("tcp :%d: a connection from %s (want only the client's, %s)", tcpPort, r.Peer, client.Addr)
		}
	}
}

// checkUnpublished (2): the listeners on the unpublished ports got nothing.
func (h *host) checkUnpublished(t *testing.T) {
	if got := h.closed.records(); len(got) > 0 {
		t.Errorf("tcp :%d (not published) accepted connections: %+v", tcpClosed, got)
	}
	if got := h.uclose.records(); len(got) > 0 {
		t.Errorf("udp :%d (not published) received datagrams: %+v", udpClosed, got)
	}
}

// checkDrops (3): the packets the client sent straight to the container's IP were dropped by
// the uplink program and counted as NOT_PUBLISHED for the container.
func (h *host) checkDrops(t *testing.T) {
	n, err := notPublishedDrops(container)
	if err != nil {
		t.Fatal(err)
	}
	if n <= h.drops0 {
		out, _ := bpfnet("stats", container)
		t.Errorf("NOT_PUBLISHED drops of %s: %d before the client's probes, %d after: want more\n%s",
			container, h.drops0, n, out)
		return
	}
	t.Logf("NOT_PUBLISHED drops of %s: %d (were %d before the client's probes)", container, n, h.drops0)
}

// checkHostLocal (4): the host reaches its own published ports on 127.0.0.1 and on its segment
// address (socket programs, no proxy).
func (h *host) checkHostLocal(t *testing.T) {
	self := h.topo.Self
	timeout := testutil.Scale(5 * time.Second)
	for _, ip := range []string{"127.0.0.1", self.Addr.String()} {
		tcpAddr := net.JoinHostPort(ip, fmt.Sprint(tcpHostPort))
		msg := fmt.Sprintf("local tcp %s from %s", tcpAddr, self.Role)
		if err := tcpEcho("", tcpAddr, msg, timeout); err != nil {
			t.Errorf("%s itself -> %s: %v", self.Role, tcpAddr, err)
		} else if len(h.tcp.withPrefix(msg)) == 0 {
			t.Errorf("%s itself -> %s: answered, but the container's server did not see it", self.Role, tcpAddr)
		} else {
			t.Logf("%s itself -> %s: echo from the container", self.Role, tcpAddr)
		}
		udpAddr := net.JoinHostPort(ip, fmt.Sprint(udpHostPort))
		msg = fmt.Sprintf("local udp %s from %s", udpAddr, self.Role)
		if err := udpEcho(udpAddr, msg, timeout); err != nil {
			t.Errorf("%s itself -> %s/udp: %v", self.Role, udpAddr, err)
		} else if len(h.udp.withPrefix(msg)) == 0 {
			t.Errorf("%s itself -> %s/udp: answered, but the container's server did not see it", self.Role, udpAddr)
		} else {
			t.Logf("%s itself -> %s/udp: echo from the container", self.Role, udpAddr)
		}
	}
	if t.Failed() {
		t.Logf("kernel %s; host namespace: %s", os.Getenv("BPFNET_KERNEL_RELEASE"), netnsCookie())
	}
}

// dialClient (5): the container connects to the client's server; the client checks the source.
func (h *host) dialClient(t *testing.T) {
	client, _ := h.topo.Peer("client")
	to := netip.AddrPortFrom(client.Addr, masqPort).String()
	if err := tcpEcho(h.netns, to, "masq from "+h.topo.Self.Role, testutil.Scale(5*time.Second)); err != nil {
		t.Errorf("container %s -> client %s: %v", container, to, err)
	} else {
		t.Logf("container %s -> client %s: echo", container, to)
	}
}

// runClient: route to the container subnets via their hosts, serve the containers' outgoing
// connections, probe both hosts, then check the sources the containers' connections had.
func runClient(t *testing.T, topo cluster.Topology) {
	err := clientRoutes(t, topo)
	var masq *recorder
	if err == nil {
		var c io.Closer
		masq, c, err = serve("", "tcp", netip.AddrPortFrom(topo.Self.Addr, masqPort).String())
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if err != nil {
		t.Errorf("client setup: %v", err)
	}
	barrier(t, topo, "ports-ready")
	if err == nil {
		// Both hosts at once: t.Parallel would run them one after the other in a one-CPU VM.
		var wg sync.WaitGroup
		for _, role := range hostRoles {
			peer, _ := topo.Peer(role)
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run("probe-"+role, func(t *testing.T) { probeHost(t, peer) })
			}()
		}
		wg.Wait()
	}
	barrier(t, topo, "ports-probed")
	barrier(t, topo, "masq-done")
	if err == nil {
		t.Run("masquerade", func(t *testing.T) {
			for _, role := range hostRoles {
				peer, _ := topo.Peer(role)
				got := masq.withPrefix("masq from " + role)
				if len(got) == 0 {
					t.Errorf("no connection from %s's container reached the client (see %s's log)", role, role)
				}
				for _, r := range got {
					if r.Peer != peer.Addr {
						t.Errorf("%s's container reached the client from %s, want %s's segment address %s (masquerade)",
							role, r.Peer, role, peer.Addr)
					} else {
						t.Logf("%s's container reached the client from %s (%s's address)", role, r.Peer, role)
					}
				}
			}
			for _, r := range masq.records() {
				if r.Msg != "" && !strings.HasPrefix(r.Msg, "masq from ") {
					t.Errorf("unexpected message %q from %s", r.Msg, r.Peer)
				}
			}
		})
	}
}

// clientRoutes adds, in the client's root namespace, a route to each host's container subnet via
// that host: what an attacker on the segment can do.
func clientRoutes(t *testing.T, topo cluster.Topology) error {
	for _, role := range hostRoles {
		peer, _ := topo.Peer(role)
		sub := containerNet[role].Subnet
		r := &netlink.Route{
			Dst: &net.IPNet{IP: sub.Addr().AsSlice(), Mask: net.CIDRMask(sub.Bits(), 32)},
			Gw:  peer.Addr.AsSlice(),
		}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("route %s via %s: %w", sub, peer.Addr, err)
		}
		t.Cleanup(func() { _ = netlink.RouteDel(r) })
	}
	return nil
}

// probeHost runs the client's probes (1) to (3) against one host.
func probeHost(t *testing.T, peer cluster.Host) {
	answer := testutil.Scale(5 * time.Second)  // what must answer
	silence := testutil.Scale(2 * time.Second) // how long what must not answer is given
	hostAddr := func(port int) string { return netip.AddrPortFrom(peer.Addr, uint16(port)).String() }
	ctrAddr := func(port int) string { return netip.AddrPortFrom(containerNet[peer.Role].IP, uint16(port)).String() }

	// (1) The published ports on the host's address answer from the container.
	if err := tcpEcho("", hostAddr(tcpHostPort), "client tcp published", answer); err != nil {
		t.Errorf("(1) published tcp %s: %v", hostAddr(tcpHostPort), err)
	} else {
		t.Logf("(1) published tcp %s: echo", hostAddr(tcpHostPort))
	}
	if err := udpEcho(hostAddr(udpHostPort), "client udp published", answer); err != nil {
		t.Errorf("(1) published udp %s: %v", hostAddr(udpHostPort), err)
	} else {
		t.Logf("(1) published udp %s: echo", hostAddr(udpHostPort))
	}

	// What must not answer is probed all at once: each probe waits the whole silence period.
	var wg sync.WaitGroup
	probe := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	defer wg.Wait()

	// (2) The container's unpublished ports, and its published port's own number, through the
	// host's address: refused by the host (nothing listens there) or no answer.
	for _, port := range []int{tcpClosed, tcpPort} {
		probe(func() {
			err := tcpEcho("", hostAddr(port), "client tcp unpublished", silence)
			switch {
			case err == nil:
				t.Errorf("(2) tcp %s (not published) answered", hostAddr(port))
			case isRefused(err) || errors.Is(err, errNoAnswer):
				t.Logf("(2) tcp %s (not published): %v", hostAddr(port), err)
			default:
				t.Errorf("(2) tcp %s (not published): want refused or no answer, got %v", hostAddr(port), err)
			}
		})
	}
	probe(func() {
		err := udpEcho(hostAddr(udpClosed), "client udp unpublished", silence)
		switch {
		case err == nil:
			t.Errorf("(2) udp %s (not published) answered", hostAddr(udpClosed))
		case isRefused(err) || errors.Is(err, errNoAnswer):
			t.Logf("(2) udp %s (not published): %v", hostAddr(udpClosed), err)
		default:
			t.Errorf("(2) udp %s (not published): want refused or no answer, got %v", hostAddr(udpClosed), err)
		}
	})

	// (3) The container's own IP, routed via the host: no answer at all (dropped on the uplink).
	for _, port := range []int{tcpPort, tcpClosed} {
		probe(func() {
			err := tcpEcho("", ctrAddr(port), "client tcp direct", silence)
			switch {
			case err == nil:
				t.Errorf("(3) tcp %s straight to the container answered", ctrAddr(port))
			case errors.Is(err, errNoAnswer):
				t.Logf("(3) tcp %s straight to the container: %v", ctrAddr(port), err)
			default:
				t.Errorf("(3) tcp %s straight to the container: want no answer (a timeout), got %v", ctrAddr(port), err)
			}
		})
	}
	probe(func() {
		err := udpEcho(ctrAddr(udpPort), "client udp direct", silence)
		switch {
		case err == nil:
			t.Errorf("(3) udp %s straight to the container answered", ctrAddr(udpPort))
		case errors.Is(err, errNoAnswer):
			t.Logf("(3) udp %s straight to the container: %v", ctrAddr(udpPort), err)
		default:
			t.Errorf("(3) udp %s straight to the container: want no answer, got %v", ctrAddr(udpPort), err)
		}
	})
}
