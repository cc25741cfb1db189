package datapath

import (
	"slices"

	"net"
	"net/netip"
	"time"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// The reference model (model_*_test.go) predicts what the datapath's tc
// programs do with one frame, from the documented behaviour (README and
// the comments of bpf/), and the fuzz test (fuzz_*_test.go) compares it
// with the programs run by BPF_PROG_TEST_RUN. Both read the same world:
// the map contents the fuzz fixture writes into the instance before every
// frame, and the routes of the host namespace (netns_test.go) that
// bpf_fib_lookup answers from.

// world is what the programs see: the endpoints, published ports, host
// addresses, the uplink, connection tracking entries and fragments.
type world struct {
	endpoints []loader.Endpoint
	ports     []loader.Port
	hostIPs   []netip.Addr           // bpfnet_host_ips
	uplinkIP  netip.Addr             // the uplink up0's masquerade address
	ct        []ctFlow               // bpfnet_ct and bpfnet_ct_new; life 0: expired
	frags     []fragFlow             // bpfnet_frags
	seqs      map[bpf.CtKey]seqRange // what unconfirmed TCP flows' reply directions sent
	// ctStats are the connection tracking counters (bpfnet_ct_stats) the
	// frame at hand moved.
	ctStats map[bpf.CtStat]uint64
}

// fragFlow is a bpfnet_frags entry: the ports a datagram's first fragment
// carried, for its later ones.
type fragFlow struct {
	proto        uint8
	src, dst     netip.Addr
	id           uint16
	sport, dport uint16 // ICMP echo: the identifier as sport or dport
}

func (f fragFlow) key() bpf.FragKey {
	return bpf.FragKey{Saddr: ipKey(f.src), Daddr: ipKey(f.dst), Id: portKey(f.id), Proto: f.proto}
}

// Ports of the fuzz world's flows.
const (
	webPort    = 8080  // hostIP:8080/tcp -> A:80
	dnsPort    = 5353  // *:5353/udp -> A:53
	peerPort   = 9090  // *:9090/tcp -> B:90
	danglePort = 7777  // *:7777/tcp -> an address no endpoint holds
	loPort     = 8081  // 127.0.0.1:8081/tcp -> A:81
	twicePort  = 8443  // *:8443/tcp and hostIP:8444/tcp -> A:443: ambiguous for a reply
	udpPeer    = 9053  // *:9053/udp -> B:53
	masqPort   = 61001 // A:50000 -> client:7000, established
	masqUDP    = 61005 // A:5000 -> client:53/udp, unconfirmed
	masqEcho   = 61002 // A's echo id 7 -> client, established
	fragID     = 0x4242
	fragInID   = 0x4243
)

// Addresses of the fuzz world besides those of setup_test.go and
// nat_setup_test.go.
var (
	dangling   = netip.MustParseAddr("172.18.0.50") // a published port leads here; no endpoint holds it
	hostBcast  = netip.MustParseAddr("192.0.2.255")
	otherNet   = netip.MustParseAddr("203.0.113.9") // a machine the routed (unmasqueraded) flow talks to
	routerAddr = netip.MustParseAddr("198.51.100.1")
)

const hour = time.Hour

// fuzzWorld is the fixture every fuzzed frame meets: A publishes ports and
// has flows of every kind, masqueraded, published, hairpinned and routed,
// established and unconfirmed, and a few expired entries.
func fuzzWorld() world {
	w := world{
		endpoints: []loader.Endpoint{epA, epB, epC, epD},
		ports: []loader.Port{
			mapping("192.0.2.1", webPort, protoTCP, epA, 80),
			mapping("", dnsPort, protoUDP, epA, 53),
			mapping("", peerPort, protoTCP, epB, 90),
			{HostPort: danglePort, Proto: protoTCP, ContainerIP: dangling, ContainerPort: 77},
			mapping("127.0.0.1", loPort, protoTCP, epA, 81),
			mapping("", twicePort, protoTCP, epA, 443),
			mapping("192.0.2.1", twicePort+1, protoTCP, epA, 443),
			mapping("", udpPeer, protoUDP, epB, 53),
		},
		hostIPs:  []netip.Addr{hostIP, hostIP2, loopback, gw1},
		uplinkIP: hostIP,
		seqs:     map[bpf.CtKey]seqRange{},
	}
	tcp, udp, icmp := uint8(protoTCP), uint8(protoUDP), uint8(protoICMP)
	masq := func(proto uint8, src, dst netip.AddrPort, port uint16, life time.Duration, unconfirmed bool) {
		nat := ap(hostIP, port)
		o := ctFlow{proto: proto, src: src, dst: dst, kind: snatOrig, nat: nat, life: life, unconfirmed: unconfirmed}
		r := ctFlow{proto: proto, src: dst, dst: nat, kind: snatReply, nat: src, life: life, unconfirmed: unconfirmed}
		w.ct = append(w.ct, o, r)
	}
	masq(tcp, ap(epA.IP, 50000), ap(client, 7000), masqPort, hour, false)
	masq(udp, ap(epA.IP, 5000), ap(client, 53), masqUDP, hour, true)
	masq(icmp, ap(epA.IP, 7), ap(client, 0), masqEcho, hour, false)
	masq(tcp, ap(epA.IP, 50002), ap(client, 7000), 61003, 0, false) // expired
	w.ct = append(w.ct,
		// Published: client:40000 -> hostIP:8080 -> A:80, established; a UDP
		// one unconfirmed; B hairpinned to A through hostIP:8080.
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(client, 40000), kind: dnatReply, nat: ap(hostIP, webPort), life: hour},
		ctFlow{proto: udp, src: ap(epA.IP, 53), dst: ap(client, 40001), kind: dnatReply, nat: ap(hostIP, dnsPort), life: hour, unconfirmed: true},
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(epB.IP, 40000), kind: dnatReply, nat: ap(hostIP, webPort), life: hour},
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(epB.IP, 40002), kind: dnatReply, nat: ap(hostIP, webPort), life: hour, unconfirmed: true},
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(client, 40003), kind: dnatReply, nat: ap(hostIP, webPort), life: 0},
		// A to itself through hostIP:8080, established and unconfirmed.
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(gw1, 45000), kind: hairpinSelf, nat: ap(hostIP, webPort), life: hour},
		ctFlow{proto: tcp, src: ap(epA.IP, 80), dst: ap(gw1, 45001), kind: hairpinSelf, nat: ap(hostIP, webPort), life: hour, unconfirmed: true},
		// A's replies to host processes bound to published UDP ports,
		// established and unconfirmed.
		ctFlow{proto: udp, src: ap(epA.IP, 5300), dst: ap(gw1, udpPeer), kind: toHost, nat: ap(gw1, udpPeer), life: hour},
		ctFlow{proto: udp, src: ap(epA.IP, 5301), dst: ap(hostIP, dnsPort), kind: toHost, nat: ap(hostIP, dnsPort), life: hour, unconfirmed: true},
		// A's network without masquerade: a flow routed as it is.
		ctFlow{proto: tcp, src: ap(otherNet, 7001), dst: ap(epA.IP, 50001), kind: routedReply, nat: ap(epA.IP, 50001), life: hour},
		ctFlow{proto: udp, src: ap(client, 7002), dst: ap(epA.IP, 50003), kind: routedReply, nat: ap(epA.IP, 50003), life: hour, unconfirmed: true},
		// A reply entry whose endpoint is gone.
		ctFlow{proto: tcp, src: ap(client, 7003), dst: ap(hostIP, 61004), kind: snatReply, nat: ap(dangling, 5000), life: hour},
	)
	w.frags = []fragFlow{
		{proto: udp, src: epA.IP, dst: client, id: fragID, sport: 5000, dport: 53},
		{proto: udp, src: client, dst: hostIP, id: fragInID, sport: 53, dport: masqUDP},
		{proto: tcp, src: client, dst: hostIP, id: fragInID, sport: 40000, dport: webPort},
	}
	return w
}

const (
	hairpinSelf = bpf.CtKindCT_HAIRPIN_SELF
	toHost      = bpf.CtKindCT_TO_HOST
)

// endpoint is the endpoint holding addr, nil if none.
func (w *world) endpoint(addr netip.Addr) *loader.Endpoint {
	for i := range w.endpoints {
		if w.endpoints[i].IP == addr {
			return &w.endpoints[i]
		}
	}
	return nil
}

func (w *world) isHostIP(addr netip.Addr) bool {
	for _, a := range w.hostIPs {
		if a == addr {
			return true
		}
	}
	return false
}

// published is where addr:port/proto leads from outside the host: only
// the host's own addresses answer, never 127.0.0.0/8, and a mapping on
// the address wins over one on every address.
func (w *world) published(addr netip.Addr, port uint16, proto uint8) (netip.AddrPort, bool) {
	if addr.IsLoopback() || !w.isHostIP(addr) {
		return netip.AddrPort{}, false
	}
	return w.publishedOn(addr, port, proto)
}

// publishedOn is published for an address known to be the host's.
func (w *world) publishedOn(addr netip.Addr, port uint16, proto uint8) (netip.AddrPort, bool) {
	var any netip.AddrPort
	found := false
	for _, p := range w.ports {
		if p.HostPort != port || p.Proto != proto {
			continue
		}
		t := ap(p.ContainerIP, p.ContainerPort)
		if p.HostIP == addr {
			return t, true
		}
		if !p.HostIP.IsValid() || p.HostIP.IsUnspecified() {
			any, found = t, true
		}
	}
	return any, found
}

// publishedAs is the one host address and port a container's port is
// published on; ok false when none is, unique false when several are.
func (w *world) publishedAs(target netip.AddrPort, proto uint8) (host netip.AddrPort, ok, unique bool) {
	n := 0
	for _, p := range w.ports {
		if p.Proto == proto && ap(p.ContainerIP, p.ContainerPort) == target {
			n++
			a := p.HostIP
			if !a.IsValid() || a.IsUnspecified() {
				a = w.uplinkIP
			}
			host = ap(a, p.HostPort)
		}
	}
	return host, n > 0, n == 1
}

// flow finds the live entry for a tuple: established first, then
// unconfirmed. Expired entries are as good as absent.
func (w *world) flow(proto uint8, src, dst netip.AddrPort) (ctFlow, bool) {
	if c, ok := w.flowIn(proto, src, dst, false); ok {
		return c, true
	}
	return w.flowIn(proto, src, dst, true)
}

// flowIn is flow in one table: bpfnet_ct or (unconfirmed) bpfnet_ct_new.
func (w *world) flowIn(proto uint8, src, dst netip.AddrPort, unconfirmed bool) (ctFlow, bool) {
	for _, c := range w.ct {
		if c.proto == proto && c.src == src && c.dst == dst && c.unconfirmed == unconfirmed && c.life > 0 {
			return c, true
		}
	}
	return ctFlow{}, false
}

// fragPorts are the ports a later fragment of datagram id takes.
func (w *world) fragPorts(proto uint8, src, dst netip.Addr, id uint16) (sport, dport uint16, ok bool) {
	for _, f := range w.frags {
		if f.proto == proto && f.src == src && f.dst == dst && f.id == id {
			return f.sport, f.dport, true
		}
	}
	return 0, 0, false
}

// recordFrag: the first fragment of a datagram (MF set, no offset) records
// its ports for the later ones.
func (w *world) recordFrag(p l4) {
	if p.laterFrag || p.frag&frames.IPv4MF == 0 {
		return
	}
	f := fragFlow{proto: p.proto, src: p.src, dst: p.dst, id: p.id, sport: p.sport, dport: p.dport}
	if i := slices.IndexFunc(w.frags, func(g fragFlow) bool { return g.key() == f.key() }); i >= 0 {
		w.frags[i] = f
		return
	}
	w.frags = append(w.frags, f)
}

// fibResult is what bpf_fib_lookup answers in the host namespace of
// netns_test.go.
type fibResult int

const (
	fibLocal   fibResult = iota // to the host itself, or no route: BPF_FIB_LKUP_RET_NOT_FWDED
	fibRouted                   // forwarded, the neighbour known: SUCCESS
	fibNoNeigh                  // forwarded, the neighbour unresolved: NO_NEIGH
)

// route is the host namespace's routing table: up0 192.0.2.1/24 (the
// uplink, neighbour client), hostA 172.18.0.1/16, lo; no default route,
// so everything else has no route, which bpf_fib_lookup answers as "not
// forwarded", like a local address.
func route(dst netip.Addr) (res fibResult, uplink bool, dmac, smac net.HardwareAddr) {
	up := netip.MustParsePrefix("192.0.2.0/24")
	switch {
	case dst == hostIP || dst == gw1 || dst.IsLoopback() || dst == hostBcast ||
		dst == netip.MustParseAddr("172.18.255.255"):
		return fibLocal, false, nil, nil
	case dst == client:
		return fibRouted, true, clientMAC, upMAC
	case up.Contains(dst):
		return fibNoNeigh, true, nil, nil
	case subnet1.Contains(dst):
		return fibNoNeigh, false, nil, nil
	}
	return fibLocal, false, nil, nil
}
