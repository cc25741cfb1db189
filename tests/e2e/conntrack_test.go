package e2e

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestNotPublishedFromLAN: a LAN client with a route to the container
// subnet via the host gets nothing through to the container's IP (TCP to
// its listening ports, UDP, ping), and nothing through the host's address
// to ports that are not published; the uplink counts NOT_PUBLISHED.
func TestNotPublishedFromLAN(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "--subnet", "10.88.0.0/24", "pub")
		web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80", "-p", "8081:81/udp")
		ip := in.On(web, "pub").IPAddress
		tcp80, udp81 := tu.Serve(t, web.Netns(), "tcp", ":80"), tu.Serve(t, web.Netns(), "udp", ":81")
		tcp82, udp83 := tu.Serve(t, web.Netns(), "tcp", ":82"), tu.Serve(t, web.Netns(), "udp", ":83")
		if err := tu.AddRoute(lan, "10.88.0.0/24", tu.LANHostIP); err != nil {
			t.Fatal(err)
		}

		// Control: the published way in works.
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Fatalf("LAN -> %s:8080: %v", tu.LANHostIP, err)
		}
		seen80 := len(tcp80.Peers())
		before := in.Stats("web", "pub").Dropped("NOT_PUBLISHED")
		silent := silentReceiver(t, web.Netns(), "eth0", "web")

		// Straight to the container: dropped, so not even refused; through the
		// host's address to ports it does not publish: refused by the host.
		silently := func(p probe) probe { p.silent = true; return p }
		allBlocked(t,
			silently(echoProbe("LAN -> web's IP", lan, "tcp", ip+":80")),
			silently(echoProbe("LAN -> web's IP", lan, "tcp", ip+":82")),
			silently(echoProbe("LAN -> web's IP", lan, "udp", ip+":81")),
			silently(echoProbe("LAN -> web's IP", lan, "udp", ip+":83")),
			probe{what: "LAN -> ping web's IP", run: func() error { return tu.Ping(lan, ip, silentFor) }, silent: true},
			echoProbe("LAN ->", lan, "tcp", tu.LANHostIP+":82"),
			echoProbe("LAN ->", lan, "udp", tu.LANHostIP+":83"),
			echoProbe("LAN ->", lan, "tcp", tu.LANHostIP+":80"))
		silent("TCP, UDP and ping from the LAN straight to web's IP, and unpublished ports")
		if n := len(tcp80.Peers()); n != seen80 {
			t.Errorf("web's tcp :80 accepted %d more connections: %v", n-seen80, tcp80.Peers())
		}
		for name, s := range map[string]*tu.Server{"udp :81": udp81, "tcp :82": tcp82, "udp :83": udp83} {
			if got := s.Peers(); len(got) > 0 {
				t.Errorf("web's %s was reached by %v", name, got)
			}
		}
		// At least a SYN for each TCP probe, a datagram for each UDP one, an echo request.
		dropRose(t, in, "web", "pub", "NOT_PUBLISHED", before, 5)
	})
}

// flowsWith returns the conntrack entries that hold ip in their tuple or
// in their translation.
func flowsWith(in *tu.Instance, ip string) []flow {
	var flows []flow
	in.MustJSON(&flows, "conntrack", "ls", "--format", "json")
	var out []flow
	for _, f := range flows {
		if f.Src.Addr().String() == ip || f.Dst.Addr().String() == ip || f.NAT.Addr().String() == ip {
			out = append(out, f)
		}
	}
	return out
}

// TestMappingsFollowContainer: the mappings and conntrack entries of a
// container go with it, `conntrack flush` empties the table (or a
// container's part of it), a reused UDP tuple reaches the port's new owner,
// and publish/unpublish add and remove a port of a running container.
func TestMappingsFollowContainer(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "pub")
		web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80", "-p", "8081:81/udp")
		api := in.CreateContainer("api", "--network", "pub", "-p", "8082:80")
		webIP, apiIP := in.On(web, "pub").IPAddress, in.On(api, "pub").IPAddress
		tu.Serve(t, web.Netns(), "tcp", ":80")
		tu.Serve(t, web.Netns(), "udp", ":81")
		tu.Serve(t, api.Netns(), "tcp", ":80")

		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Fatalf("LAN -> 8080: %v", err)
		}
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8082", answerWithin); err != nil {
			t.Fatalf("LAN -> 8082: %v", err)
		}
		// A UDP client that keeps its socket (its tuple) across the change of owner.
		udp, err := tu.Dial(lan, "udp", tu.LANHostIP+":8081", answerWithin)
		if err != nil {
			t.Fatal(err)
		}
		defer udp.Close()
		if err := udpRoundTrip(udp, "to web"); err != nil {
			t.Fatalf("LAN -> 8081/udp: %v", err)
		}
		if len(flowsWith(in, webIP)) == 0 || len(flowsWith(in, apiIP)) == 0 {
			t.Fatalf("conntrack ls after flows through web and api: web's %+v, api's %+v", flowsWith(in, webIP), flowsWith(in, apiIP))
		}

		t.Run("flush-container", func(t *testing.T) {
			out := in.MustRun("conntrack", "flush", "api")
			if !strings.HasSuffix(strings.TrimSpace(out), "flow entries deleted") || strings.HasPrefix(out, "0 ") {
				t.Errorf("conntrack flush api: %q, want a positive count of entries deleted", out)
			}
			if got := flowsWith(in, apiIP); len(got) > 0 {
				t.Errorf("after conntrack flush api: api's entries %+v", got)
			}
			if len(flowsWith(in, webIP)) == 0 {
				t.Errorf("conntrack flush api also removed web's entries")
			}
		})

		t.Run("rm", func(t *testing.T) {
			in.MustRun("container", "rm", "web")
			if got := flowsWith(in, webIP); len(got) > 0 {
				t.Errorf("after container rm web: conntrack still holds %+v", got)
			}
			allBlocked(t, echoProbe("LAN -> removed web's", lan, "tcp", tu.LANHostIP+":8080"),
				echoProbe("LAN -> removed web's", lan, "udp", tu.LANHostIP+":8081"))
			in.MustFail("No such container", "port", "web")

			// The port's next owner gets the old client's datagrams.
			web2 := in.CreateContainer("web2", "--network", "pub", "-p", "8081:81/udp")
			srv := tu.Serve(t, web2.Netns(), "udp", ":81")
			if err := udpRoundTrip(udp, "to web2"); err != nil {
				t.Errorf("LAN -> 8081/udp on the old socket after web2 took the port: %v", err)
			}
			peersAre(t, "LAN -> web2 8081/udp", srv, tu.LANClientIP)
		})

		t.Run("flush", func(t *testing.T) {
			if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8082", answerWithin); err != nil {
				t.Fatalf("LAN -> 8082: %v", err)
			}
			var flows []flow
			if in.MustJSON(&flows, "conntrack", "ls", "--format", "json"); len(flows) == 0 {
				t.Fatalf("conntrack ls: empty after a flow through api")
			}
			in.MustRun("conntrack", "flush")
			flows = nil
			if in.MustJSON(&flows, "conntrack", "ls", "--format", "json"); len(flows) > 0 {
				t.Errorf("conntrack ls after flush: %+v", flows)
			}
		})

		t.Run("publish-unpublish", func(t *testing.T) {
			late := in.CreateContainer("late", "--network", "pub")
			lateIP := in.On(late, "pub").IPAddress
			srv := tu.Serve(t, late.Netns(), "tcp", ":80")
			if out := in.MustRun("container", "publish", "late", "-p", "8085:80"); !strings.Contains(out, "80/tcp -> 0.0.0.0:8085") {
				t.Errorf("container publish late -p 8085:80 printed %q", out)
			}
			if got := portLines(in, "late"); !slices.Equal(got, []string{"80/tcp -> 0.0.0.0:8085"}) {
				t.Errorf("bpfnet port late: %q", got)
			}
			if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8085", answerWithin); err != nil {
				t.Errorf("LAN -> 8085 after publish: %v", err)
			} else {
				peersAre(t, "LAN -> late 8085", srv, tu.LANClientIP)
			}
			// late's running programs learn that it publishes (no reload):
			// it reaches its own new port, and its replies to a neighbour
			// that came through the host's address go back from there.
			if err := tu.Echo(late.Netns(), "tcp", tu.LANHostIP+":8085", answerWithin); err != nil {
				t.Errorf("late -> its own 8085: %v", err)
			}
			neighbour := in.CreateContainer("neighbour", "--network", "pub")
			before := len(srv.Peers())
			if err := tu.Echo(neighbour.Netns(), "tcp", tu.LANHostIP+":8085", answerWithin); err != nil {
				t.Errorf("neighbour -> late's 8085 through the host's address: %v", err)
			} else if got := srv.Peers()[before:]; len(got) == 0 || got[len(got)-1].Addr().String() != in.On(neighbour, "pub").IPAddress {
				t.Errorf("neighbour -> late's 8085: late's server saw %v, want the neighbour's own address", got)
			}
			for _, f := range flowsWith(in, lateIP) {
				if f.Kind == "" {
					t.Errorf("conntrack ls shows an entry without a kind: %+v", f)
				}
			}
			in.MustRun("container", "unpublish", "late", "8085:80")
			if got := flowsWith(in, lateIP); len(got) > 0 {
				t.Errorf("after unpublish: conntrack still holds %+v", got)
			}
			n := len(srv.Peers())
			allBlocked(t, echoProbe("LAN -> unpublished", lan, "tcp", tu.LANHostIP+":8085"))
			if len(srv.Peers()) != n {
				t.Errorf("late's server accepted a connection after unpublish: %v", srv.Peers()[n:])
			}
			if out := strings.TrimSpace(in.MustRun("port", "late")); out != "" {
				t.Errorf("bpfnet port late after unpublish: %q", out)
			}
		})
	})
}

// udpRoundTrip sends msg on a connected UDP socket, up to four times, and
// wants it echoed.
func udpRoundTrip(conn net.Conn, msg string) error {
	buf := make([]byte, 2048)
	for try := 0; try < 4; try++ {
		if _, err := conn.Write([]byte(msg)); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(answerWithin / 4))
		n, err := conn.Read(buf)
		if err == nil && string(buf[:n]) == msg {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return tu.ErrNoAnswer
}

// TestConntrackEntries: the table gets the size --conntrack-entries asks for
// when the first command creates the maps, and later commands, which load
// programs against that pinned table, work without the flag.
func TestConntrackEntries(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("--conntrack-entries", "4096", "network", "create", "pub")
		ct, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", "bpfnet_ct"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := ct.MaxEntries(); n != 4096 {
			t.Errorf("bpfnet_ct holds %d entries, want 4096", n)
		}
		ct.Close()
		web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80")
		tu.Serve(t, web.Netns(), "tcp", ":80")
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Errorf("LAN -> 8080 with a 4096-entry table: %v", err)
		}
	})
}

// TestPortsFollowFirstNetwork: published ports lead to the container's first
// network's address, as in Docker; when that network is disconnected they
// lead to the next one, with none left they lead nowhere, and connecting
// again brings them back.
func TestPortsFollowFirstNetwork(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	lan := tu.NewLAN(t, in)
	in.MustRun("network", "create", "front")
	in.MustRun("network", "create", "back")
	web := in.CreateContainer("web", "--network", "front", "-p", "8080:80")
	in.MustRun("network", "connect", "back", "web")
	srv := tu.Serve(t, web.Netns(), "tcp", ":80")
	if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
		t.Fatalf("LAN -> 8080 on front: %v", err)
	}

	in.MustRun("network", "disconnect", "front", "web")
	if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
		t.Errorf("LAN -> 8080 after front was disconnected (ports now lead to back): %v", err)
	}
	in.MustRun("network", "disconnect", "back", "web")
	n := len(srv.Peers())
	allBlocked(t, echoProbe("LAN -> 8080 with web on no network", lan, "tcp", tu.LANHostIP+":8080"))
	if len(srv.Peers()) != n {
		t.Errorf("web's server accepted a connection while on no network")
	}
	in.MustRun("network", "connect", "front", "web")
	if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
		t.Errorf("LAN -> 8080 after connecting front again: %v", err)
	}
	if r := in.Run("system", "check"); r.Code != 0 {
		t.Errorf("system check: %v", r)
	}
}
