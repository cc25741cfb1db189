package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestHairpin: containers reach a published port through the host's LAN
// address and through their gateway address, from the same network and
// from another one, with their own address as the server's peer; a
// container reaches its own published port, from the gateway's address.
func TestHairpin(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		tu.NewLAN(t, in)
		in.MustRun("network", "create", "front")
		in.MustRun("network", "create", "back")
		web := in.CreateContainer("web", "--network", "front", "-p", "8080:80", "-p", "8081:81/udp")
		peer := in.CreateContainer("peer", "--network", "front")
		other := in.CreateContainer("other", "--network", "back")
		tcp80 := tu.Serve(t, web.Netns(), "tcp", ":80")
		udp81 := tu.Serve(t, web.Netns(), "udp", ":81")

		for _, c := range []struct {
			client  *tu.Container
			network string
			wantIP  string // the peer web's servers must see
		}{
			{peer, "front", in.On(peer, "front").IPAddress},
			{other, "back", in.On(other, "back").IPAddress},
			{web, "front", in.On(web, "front").Gateway}, // to itself: from the gateway
		} {
			for _, ip := range []string{tu.LANHostIP, in.On(c.client, c.network).Gateway} {
				t.Run(strings.TrimPrefix(c.client.Name, "/")+"-"+ip, func(t *testing.T) {
					for _, s := range []struct {
						proto string
						port  int
						srv   *tu.Server
					}{{"tcp", 8080, tcp80}, {"udp", 8081, udp81}} {
						n := len(s.srv.Peers())
						addr := hostAddr(ip, s.port)
						if err := tu.Echo(c.client.Netns(), s.proto, addr, answerWithin); err != nil {
							t.Errorf("%s -> %s/%s: %v; %s's drops %+v", c.client.Name, addr, s.proto, err,
								c.client.Name, in.Stats(c.client.Name, c.network).Drops)
							continue
						}
						got := s.srv.Peers()[n:]
						for _, p := range got {
							if p.Addr().String() != c.wantIP {
								t.Errorf("%s -> %s/%s: web's server saw %v, want %s", c.client.Name, addr, s.proto, got, c.wantIP)
								break
							}
						}
						if len(got) == 0 {
							t.Errorf("%s -> %s/%s answered, but web's server saw nothing", c.client.Name, addr, s.proto)
						}
					}
				})
			}
		}
	})
}

// TestMasquerade: a container's flows to the LAN leave with the host's
// LAN address as their source (TCP, UDP, ping); with masquerading off they
// keep the container's address, and from an --internal network nothing
// leaves at all.
func TestMasquerade(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		tcpSrv := tu.Serve(t, lan, "tcp", tu.LANClientIP+":7000")
		udpSrv := tu.Serve(t, lan, "udp", tu.LANClientIP+":7001")
		in.MustRun("network", "create", "out")
		in.MustRun("network", "create", "--subnet", "10.89.0.0/24", "--opt", "enable_ip_masquerade=false", "plain")
		in.MustRun("network", "create", "--internal", "priv")
		c := in.CreateContainer("masq", "--network", "out")
		plain := in.CreateContainer("plain", "--network", "plain")
		priv := in.CreateContainer("priv", "--network", "priv")
		cIP, plainIP, epPriv := in.On(c, "out").IPAddress, in.On(plain, "plain").IPAddress, in.On(priv, "priv")

		t.Run("masqueraded", func(t *testing.T) {
			sniff, err := tu.Sniff(lan, "uplinkp")
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				frames := sniff.Stop()
				if n := tu.CountIPv4(frames, cIP, tu.LANClientIP); n > 0 {
					t.Errorf("%d packets from masq's own address %s reached the LAN", n, cIP)
				}
				if n := tu.CountIPv4(frames, tu.LANHostIP, tu.LANClientIP); n < 3 {
					t.Errorf("the LAN received %d packets from %s, want at least TCP, UDP and ping", n, tu.LANHostIP)
				}
			}()
			for _, s := range []struct {
				proto string
				srv   *tu.Server
			}{{"tcp", tcpSrv}, {"udp", udpSrv}} {
				if err := tu.Echo(c.Netns(), s.proto, s.srv.Addr, answerWithin); err != nil {
					t.Errorf("masq -> %s/%s: %v; its drops %+v", s.srv.Addr, s.proto, err, in.Stats("masq", "out").Drops)
					continue
				}
				peersAre(t, "masq -> LAN "+s.proto, s.srv, tu.LANHostIP)
				t.Logf("the LAN's %s server saw masq as %v", s.proto, s.srv.Peers())
			}
			if err := tu.Ping(c.Netns(), tu.LANClientIP, answerWithin); err != nil {
				t.Errorf("masq -> ping %s: %v; its drops %+v", tu.LANClientIP, err, in.Stats("masq", "out").Drops)
			}
			var flows []flow
			in.MustJSON(&flows, "conntrack", "ls", "--format", "json")
			if !slices.ContainsFunc(flows, func(f flow) bool { return f.Kind == "snat-orig" && f.Src.Addr().String() == cIP }) {
				t.Errorf("conntrack ls: no snat-orig entry from %s in %+v", cIP, flows)
			}
		})

		// The LAN answers a masqueraded datagram to a closed port with ICMP
		// port unreachable, sent to the host's address: it must reach masq's
		// socket as ECONNREFUSED, as it would through netfilter's NAT.
		t.Run("icmp-error", func(t *testing.T) {
			if err := readAfterSend(c.Netns(), tu.LANClientIP+":7009"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("masq's datagram to a closed LAN port: read gave %v, want connection refused (the ICMP error); drops %+v",
					err, in.Stats("masq", "out").Drops)
			}
		})

		t.Run("masquerade-off", func(t *testing.T) {
			if err := tu.AddRoute(lan, "10.89.0.0/24", tu.LANHostIP); err != nil {
				t.Fatal(err)
			}
			sniff, err := tu.Sniff(lan, "uplinkp")
			if err != nil {
				t.Fatal(err)
			}
			n := len(udpSrv.Peers())
			// The reply comes back through the uplink's routed-reply entry.
			if err := tu.Echo(plain.Netns(), "udp", udpSrv.Addr, answerWithin); err != nil {
				t.Errorf("plain -> %s/udp with masquerading off: %v; drops %+v", udpSrv.Addr, err, in.Stats("plain", "plain").Drops)
			}
			settle()
			frames := sniff.Stop()
			if got := tu.CountIPv4(frames, tu.LANHostIP, tu.LANClientIP); got > 0 {
				t.Errorf("plain's datagrams reached the LAN from %s (masqueraded): %d packets", tu.LANHostIP, got)
			}
			if tu.CountIPv4(frames, plainIP, tu.LANClientIP) == 0 {
				t.Errorf("with enable_ip_masquerade=false no packet from %s reached the LAN", plainIP)
			}
			got := udpSrv.Peers()[n:]
			if len(got) == 0 {
				t.Errorf("with enable_ip_masquerade=false the LAN's server saw nothing from plain")
			}
			for _, p := range got {
				if p.Addr().String() != plainIP {
					t.Errorf("with enable_ip_masquerade=false the LAN's server saw %v, want %s", got, plainIP)
					break
				}
			}
			t.Logf("the LAN's udp server saw plain as %v; plain's drops %+v", got, in.Stats("plain", "plain").Drops)
		})

		t.Run("internal", func(t *testing.T) {
			if err := tu.AddRoute(priv.Netns(), "default", epPriv.Gateway); err != nil {
				t.Fatalf("add default route in priv: %v", err)
			}
			silent := silentReceiver(t, lan, "uplinkp", "the LAN")
			before := in.Stats("priv", "priv").Dropped("INTERNAL_NETWORK")
			err := tu.Echo(priv.Netns(), "udp", udpSrv.Addr, silentFor)
			if !errors.Is(err, tu.ErrNoAnswer) {
				t.Errorf("priv -> %s/udp: want no answer, got %v", udpSrv.Addr, err)
			}
			if err := tu.Ping(priv.Netns(), tu.LANClientIP, silentFor); !errors.Is(err, tu.ErrNoAnswer) {
				t.Errorf("priv -> ping %s: want no answer, got %v", tu.LANClientIP, err)
			}
			silent("UDP and ping from the internal network's priv")
			dropRose(t, in, "priv", "priv", "INTERNAL_NETWORK", before, 2)
		})
	})
}

// flow is one entry of `conntrack ls --format json`.
type flow struct {
	Proto         uint8
	Src, Dst, NAT netip.AddrPort
	Kind          string
}

// TestPublishedPortICMPError: a datagram from the LAN to a published UDP
// port where the container listens on nothing draws the container's ICMP
// port unreachable, which must reach the client from the host's address
// and about the address it used (so its socket learns ECONNREFUSED), with
// the container's own address never on the LAN; the same for a neighbour
// container that came through the host's address.
func TestPublishedPortICMPError(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "pub")
		c := in.CreateContainer("quiet", "--network", "pub", "-p", "8089:89/udp")
		cIP := in.On(c, "pub").IPAddress

		sniff, err := tu.Sniff(lan, "uplinkp")
		if err != nil {
			t.Fatal(err)
		}
		if err := readAfterSend(lan, tu.LANHostIP+":8089"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("LAN -> published 8089/udp with nothing listening: read gave %v, want connection refused; quiet's drops %+v",
				err, in.Stats("quiet", "pub").Drops)
		}
		frames := sniff.Stop()
		if n := tu.CountIPv4(frames, cIP, tu.LANClientIP); n > 0 {
			t.Errorf("%d packets from quiet's own address %s reached the LAN", n, cIP)
		}

		// The same from a neighbour through the host's address (hairpin):
		// the error goes back to it about the address it used.
		asker := in.CreateContainer("asker", "--network", "pub")
		if err := readAfterSend(asker.Netns(), tu.LANHostIP+":8089"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("asker -> published 8089/udp through the host's address: read gave %v, want connection refused; quiet's drops %+v",
				err, in.Stats("quiet", "pub").Drops)
		}
	})
}

// TestFragmentedDatagrams: UDP datagrams larger than the MTU (EDNS
// answers, for one) cross the datapath in fragments both ways: a
// container's to the LAN, masqueraded, and the LAN's to a published port.
func TestFragmentedDatagrams(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		lanSrv := tu.Serve(t, lan, "udp", tu.LANClientIP+":7002")
		in.MustRun("network", "create", "pub")
		c := in.CreateContainer("big", "--network", "pub", "-p", "8090:90/udp")
		tu.Serve(t, c.Netns(), "udp", ":90")

		for _, tt := range []struct{ what, from, to string }{
			{"big -> LAN (masqueraded)", c.Netns(), lanSrv.Addr},
			{"LAN -> published port", lan, tu.LANHostIP + ":8090"},
		} {
			if err := bigUDPEcho(tt.from, tt.to); err != nil {
				t.Errorf("%s, 3000-byte datagrams: %v; big's drops %+v", tt.what, err, in.Stats("big", "pub").Drops)
			}
		}
		peersAre(t, "big -> LAN", lanSrv, tu.LANHostIP)
	})
}

// bigUDPEcho sends a 3000-byte datagram (three fragments at MTU 1500) and
// wants it echoed whole.
func bigUDPEcho(ns, addr string) error {
	conn, err := tu.Dial(ns, "udp", addr, answerWithin)
	if err != nil {
		return err
	}
	defer conn.Close()
	msg := []byte(strings.Repeat("fragment me ", 250))
	got := make([]byte, 4096)
	for try := 0; try < 3; try++ {
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(answerWithin / 3))
		n, err := conn.Read(got)
		if err == nil && string(got[:n]) == string(msg) {
			return nil
		}
		if err == nil {
			return fmt.Errorf("echo of %d bytes came back as %d different bytes", len(msg), n)
		}
	}
	return fmt.Errorf("no echo of a %d-byte datagram", len(msg))
}

// readAfterSend sends a datagram from ns to addr on a connected socket and
// returns what the next read gives: ECONNREFUSED once an ICMP port
// unreachable about the datagram has reached the socket.
func readAfterSend(ns, addr string) error {
	conn, err := tu.Dial(ns, "udp", addr, answerWithin)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("anyone?")); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(answerWithin))
	_, err = conn.Read(make([]byte, 16))
	return err
}
