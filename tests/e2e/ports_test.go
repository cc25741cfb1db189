package e2e

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// binding is one host binding of `container inspect`'s NetworkSettings.Ports.
type binding struct{ HostIp, HostPort string }

// portsOf is NetworkSettings.Ports of container name, in Docker's shape:
// "80/tcp" -> [{"HostIp": "0.0.0.0", "HostPort": "8080"}].
func portsOf(t *testing.T, in *tu.Instance, name string) map[string][]binding {
	t.Helper()
	var cs []struct {
		NetworkSettings struct{ Ports map[string][]binding }
	}
	in.MustJSON(&cs, "container", "inspect", name)
	if len(cs) != 1 {
		t.Fatalf("container inspect %s: %d results", name, len(cs))
	}
	return cs[0].NetworkSettings.Ports
}

// portLines is `bpfnet port ARGS...`, one mapping a line, sorted.
func portLines(in *tu.Instance, args ...string) []string {
	out := strings.Split(strings.TrimSpace(in.MustRun(append([]string{"port"}, args...)...)), "\n")
	slices.Sort(out)
	return out
}

// peersAre fails the test unless srv saw at least one peer and every peer
// had one of the addresses want.
func peersAre(t *testing.T, what string, srv *tu.Server, want ...string) {
	t.Helper()
	got := srv.PeerIPs()
	if len(got) == 0 {
		t.Errorf("%s: the server saw no peer, want %v", what, want)
		return
	}
	for _, ip := range got {
		if !slices.Contains(want, ip) {
			t.Errorf("%s: the server saw peers %v, want only %v", what, got, want)
			return
		}
	}
}

// probe is one attempt that must not reach a server. A silent probe must
// get no answer at all: a refusal would mean that its packets reached a
// host stack, which a drop on the way prevents.
type probe struct {
	what   string
	run    func() error
	silent bool
}

// allBlocked runs the probes at once (each waits silentFor for nothing)
// and fails the test for each that got an answer or an unexpected error.
func allBlocked(t *testing.T, probes ...probe) {
	t.Helper()
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.run() }()
	}
	wg.Wait()
	for i, p := range probes {
		switch {
		case p.silent && !errors.Is(errs[i], tu.ErrNoAnswer):
			t.Errorf("%s: want no answer, got %v", p.what, errs[i])
		case !p.silent && !tu.Blocked(errs[i]):
			t.Errorf("%s: want no answer or refused, got %v", p.what, errs[i])
		}
	}
}

// echoProbe is a probe of an Echo from the namespace at from to addr.
func echoProbe(what, from, proto, addr string) probe {
	return probe{what: what + " " + proto + " " + addr, run: func() error { return tu.Echo(from, proto, addr, silentFor) }}
}

func hostAddr(ip string, port int) string { return ip + ":" + strconv.Itoa(port) }

// TestPublishedPorts: `-p 8080:80`, `-p 8081:81/udp` and a range answer
// from the LAN with the client's own address as the container's peer;
// `port` and `container inspect` show them as Docker does; the host itself
// reaches them on its LAN address and on 127.0.0.1, and a UDP answer comes
// from the address and port it was sent to.
func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "pub")
		web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80", "-p", "8081:81/udp", "-p", "7000-7002:7000-7002")
		tcp80 := tu.Serve(t, web.Netns(), "tcp", ":80")
		udp81 := tu.Serve(t, web.Netns(), "udp", ":81")
		var ranged []*tu.Server
		for p := 7000; p <= 7002; p++ {
			ranged = append(ranged, tu.Serve(t, web.Netns(), "tcp", fmt.Sprintf(":%d", p)))
		}

		t.Run("from-lan", func(t *testing.T) {
			for _, c := range []struct {
				proto string
				port  int
				srv   *tu.Server
			}{{"tcp", 8080, tcp80}, {"udp", 8081, udp81}, {"tcp", 7000, ranged[0]}, {"tcp", 7001, ranged[1]}, {"tcp", 7002, ranged[2]}} {
				addr := hostAddr(tu.LANHostIP, c.port)
				if err := tu.Echo(lan, c.proto, addr, answerWithin); err != nil {
					t.Errorf("LAN -> %s/%s: %v", addr, c.proto, err)
					continue
				}
				peersAre(t, fmt.Sprintf("LAN -> %s/%s", addr, c.proto), c.srv, tu.LANClientIP)
			}
		})

		t.Run("port-and-inspect", func(t *testing.T) {
			want := []string{"7000/tcp -> 0.0.0.0:7000", "7001/tcp -> 0.0.0.0:7001", "7002/tcp -> 0.0.0.0:7002",
				"80/tcp -> 0.0.0.0:8080", "81/udp -> 0.0.0.0:8081"}
			if got := portLines(in, "web"); !slices.Equal(got, want) {
				t.Errorf("bpfnet port web:\n%q\nwant\n%q", got, want)
			}
			for arg, want := range map[string]string{"7001": "0.0.0.0:7001", "80/tcp": "0.0.0.0:8080", "81/udp": "0.0.0.0:8081"} {
				if got := strings.TrimSpace(in.MustRun("port", "web", arg)); got != want {
					t.Errorf("bpfnet port web %s: %q, want %q", arg, got, want)
				}
			}
			in.MustFail("No public port '82' published for web", "port", "web", "82")
			in.MustFail("No public port '81' published for web", "port", "web", "81") // 81 is udp
			wantPorts := map[string][]binding{
				"80/tcp": {{"0.0.0.0", "8080"}}, "81/udp": {{"0.0.0.0", "8081"}},
				"7000/tcp": {{"0.0.0.0", "7000"}}, "7001/tcp": {{"0.0.0.0", "7001"}}, "7002/tcp": {{"0.0.0.0", "7002"}},
			}
			if got := portsOf(t, in, "web"); !reflect.DeepEqual(got, wantPorts) {
				t.Errorf("container inspect web: NetworkSettings.Ports %v, want %v", got, wantPorts)
			}
		})

		// The host's own processes, through the socket programs.
		t.Run("host-local", func(t *testing.T) {
			for _, ip := range []string{tu.LANHostIP, "127.0.0.1"} {
				n := len(tcp80.Peers())
				if err := tu.Echo(in.HostNetns, "tcp", hostAddr(ip, 8080), answerWithin); err != nil {
					t.Errorf("host -> %s:8080/tcp: %v", ip, err)
				} else if len(tcp80.Peers()) != n+1 {
					t.Errorf("host -> %s:8080/tcp answered, but web's server saw %d new connections, want 1", ip, len(tcp80.Peers())-n)
				}
				n = len(udp81.Peers())
				from, err := tu.UDPExchange(in.HostNetns, hostAddr(ip, 8081), answerWithin)
				switch {
				case err != nil:
					t.Errorf("host -> %s:8081/udp: %v", ip, err)
				case from != netip.MustParseAddrPort(hostAddr(ip, 8081)):
					t.Errorf("host -> %s:8081/udp: the answer came from %v, want %s:8081", ip, from, ip)
				case len(udp81.Peers()) == n:
					t.Errorf("host -> %s:8081/udp answered, but web's server saw nothing", ip)
				}
			}
			t.Logf("web's tcp :80 saw %v, udp :81 saw %v", tcp80.PeerIPs(), udp81.PeerIPs())
		})
	})
}

// TestLoopbackOnlyPorts: ports published on 127.0.0.1 answer the host's
// processes there, and nothing else: not the LAN through the host's
// address, not the host itself through that address, not another
// container, not a frame from the wire addressed to 127.0.0.1.
func TestLoopbackOnlyPorts(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "pub")
		web := in.CreateContainer("web", "--network", "pub", "-p", "127.0.0.1:9090:90/udp", "-p", "127.0.0.1:9091:91")
		other := in.CreateContainer("other", "--network", "pub")
		gw := in.On(other, "pub").Gateway
		udp90 := tu.Serve(t, web.Netns(), "udp", ":90")
		tcp91 := tu.Serve(t, web.Netns(), "tcp", ":91")
		want := map[string][]binding{"90/udp": {{"127.0.0.1", "9090"}}, "91/tcp": {{"127.0.0.1", "9091"}}}
		if got := portsOf(t, in, "web"); !reflect.DeepEqual(got, want) {
			t.Errorf("container inspect web: NetworkSettings.Ports %v, want %v", got, want)
		}

		sniff, err := tu.Sniff(web.Netns(), "eth0")
		if err != nil {
			t.Fatal(err)
		}
		// A UDP datagram from the LAN to 127.0.0.1:9090, sent to the host's MAC.
		upl, err := tu.LinkByName(in.HostNetns, "uplink")
		if err != nil {
			t.Fatal(err)
		}
		lanl, err := tu.LinkByName(lan, "uplinkp")
		if err != nil {
			t.Fatal(err)
		}
		forged := tu.IPv4Packet(tu.LANClientIP, "127.0.0.1", 17, tu.UDPDatagram(40404, 9090, []byte("bpfnet-e2e forged")))
		if err := tu.SendFrame(lan, "uplinkp", tu.EthernetFrame(upl.Attrs().HardwareAddr, lanl.Attrs().HardwareAddr, 0x0800, forged)); err != nil {
			t.Fatal(err)
		}
		var probes []probe
		for _, p := range []struct{ proto, port string }{{"udp", "9090"}, {"tcp", "9091"}} {
			probes = append(probes,
				echoProbe("LAN ->", lan, p.proto, tu.LANHostIP+":"+p.port),
				echoProbe("host ->", in.HostNetns, p.proto, tu.LANHostIP+":"+p.port),
				echoProbe("other container ->", other.Netns(), p.proto, tu.LANHostIP+":"+p.port),
				echoProbe("other container ->", other.Netns(), p.proto, gw+":"+p.port))
		}
		allBlocked(t, probes...)
		settle()
		if got := append(udp90.PeerIPs(), tcp91.PeerIPs()...); len(got) > 0 {
			t.Errorf("web's loopback-only servers were reached by %v", got)
		}
		var seen []string
		for _, f := range sniff.Stop() {
			if !tu.IsARPReply(f) {
				seen = append(seen, tu.Describe(f))
			}
		}
		if len(seen) > 0 {
			t.Errorf("web's eth0 received %v, want nothing", seen)
		}

		// Controls: the host's processes reach both on 127.0.0.1.
		if err := tu.Echo(in.HostNetns, "tcp", "127.0.0.1:9091", answerWithin); err != nil {
			t.Errorf("host -> 127.0.0.1:9091/tcp: %v", err)
		}
		if from, err := tu.UDPExchange(in.HostNetns, "127.0.0.1:9090", answerWithin); err != nil || from.String() != "127.0.0.1:9090" {
			t.Errorf("host -> 127.0.0.1:9090/udp: answer from %v, %v; want from 127.0.0.1:9090", from, err)
		}
		if len(udp90.Peers()) == 0 || len(tcp91.Peers()) == 0 {
			t.Errorf("host-local controls: web's servers saw udp %v, tcp %v; want one each", udp90.Peers(), tcp91.Peers())
		}
	})
}

// TestEphemeralHostPorts: -P with --expose and a bare -p take host ports
// from the host namespace's ip_local_port_range, skip its
// ip_local_reserved_ports, and answer from the LAN.
func TestEphemeralHostPorts(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		err := tu.InNetns(in.HostNetns, func() error {
			if err := tu.WriteSysctl("net/ipv4/ip_local_port_range", "40000 40010"); err != nil {
				return err
			}
			return tu.WriteSysctl("net/ipv4/ip_local_reserved_ports", "40000")
		})
		if err != nil {
			t.Fatal(err)
		}
		in.MustRun("network", "create", "pub")
		eph1 := in.CreateContainer("eph1", "--network", "pub", "-P", "--expose", "80", "--expose", "81/udp")
		eph2 := in.CreateContainer("eph2", "--network", "pub", "-p", "80")

		hostPort := func(name, key string) int {
			t.Helper()
			ps := portsOf(t, in, name)
			if len(ps[key]) != 1 || ps[key][0].HostIp != "0.0.0.0" {
				t.Fatalf("container inspect %s: Ports %v, want one binding on 0.0.0.0 for %s", name, ps, key)
			}
			p, _ := strconv.Atoi(ps[key][0].HostPort)
			if p < 40001 || p > 40010 {
				t.Errorf("%s %s got host port %d, want one of 40001-40010 (40000 is reserved)", name, key, p)
			}
			return p
		}
		p1, p1u, p2 := hostPort("eph1", "80/tcp"), hostPort("eph1", "81/udp"), hostPort("eph2", "80/tcp")
		if p1 != 40001 {
			t.Errorf("eph1's 80/tcp got %d, want 40001: the first port of the range that is not reserved", p1)
		}
		if p2 == p1 {
			t.Errorf("eph1 and eph2 both got %d/tcp", p1)
		}
		if got, want := portLines(in, "eph1"), []string{fmt.Sprintf("80/tcp -> 0.0.0.0:%d", p1), fmt.Sprintf("81/udp -> 0.0.0.0:%d", p1u)}; !slices.Equal(got, want) {
			t.Errorf("bpfnet port eph1: %q, want %q", got, want)
		}

		servers := map[string]*tu.Server{
			"eph1 tcp": tu.Serve(t, eph1.Netns(), "tcp", ":80"),
			"eph1 udp": tu.Serve(t, eph1.Netns(), "udp", ":81"),
			"eph2 tcp": tu.Serve(t, eph2.Netns(), "tcp", ":80"),
		}
		hostPorts := map[string]int{"eph1 tcp": p1, "eph1 udp": p1u, "eph2 tcp": p2}
		for _, k := range slices.Sorted(maps.Keys(servers)) {
			proto := k[len(k)-3:]
			addr := hostAddr(tu.LANHostIP, hostPorts[k])
			if err := tu.Echo(lan, proto, addr, answerWithin); err != nil {
				t.Errorf("LAN -> %s (%s): %v", addr, k, err)
				continue
			}
			peersAre(t, "LAN -> "+k, servers[k], tu.LANClientIP)
		}
	})
}

// A port published after a new host device appeared answers through it:
// publish, like every change, looks at the host's devices first (the bench
// adds its LAN after the containers, as a host may gain a NIC or a VPN).
func TestPublishAfterNewUplink(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "late")
		web := in.CreateContainer("web", "--network", "late")
		tu.Serve(t, web.Netns(), "tcp", ":80")
		lan := tu.NewLAN(t, in) // after every command so far
		in.MustRun("container", "publish", "web", "-p", "8080:80")
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Fatalf("LAN -> 8080 published after the uplink came: %v", err)
		}
		in.MustRun("container", "unpublish", "web", "8080:80")
		lan2 := tu.NewNetns(t, in.Dir, "lan2", nil)
		if err := tu.AddVeth(in.HostNetns, "uplink2", "198.51.100.1/24", lan2, "198.51.100.2/24"); err != nil {
			t.Fatal(err)
		}
		in.MustRun("container", "publish", "web", "-p", "8081:80")
		if err := tu.Echo(lan2, "tcp", "198.51.100.1:8081", answerWithin); err != nil {
			t.Fatalf("second LAN -> 8081: %v", err)
		}
	})
}
