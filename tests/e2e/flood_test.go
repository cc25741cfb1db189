package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// floodSize is one flood: the conntrack table it runs against and how
// many forged SYNs from the LAN and new flows from a container it sends.
// Both are bounded, and many times the table's unconfirmed part.
type floodSize struct {
	entries  string // --conntrack-entries; "" keeps the default
	syns     int    // forged SYNs from the LAN to the published port
	newFlows int    // SYNs of new flows from a container, never completed
}

var (
	// The smallest table (1,024 established entries, 256 unconfirmed)
	// flooded nine times over: seconds, in every run.
	floodSmallTable = floodSize{entries: "1024", syns: 2000, newFlows: 300}
	// The default table (131,072 entries, 32,768 unconfirmed) flooded
	// five times over: in `make long-test` (BPFNET_LONG=1).
	floodDefaultTable = floodSize{syns: 100000, newFlows: 40000}
)

// TestFloodKeepsEstablished: with the smallest conntrack table, a
// container holds 10 masqueraded flows to the LAN and a LAN client 5 flows
// to a published port (25 entries), 3 of them carrying traffic all along.
// A LAN host then sends 2,000 forged SYNs to the published port at full
// rate, and the container 300 SYNs of new flows: no established flow
// breaks, and the counters say what happened: every forged SYN and new
// flow made an unconfirmed entry, none was confirmed, none evicted an
// established one.
func TestFloodKeepsEstablished(t *testing.T) {
	t.Parallel()
	testFlood(t, floodSmallTable)
}

// TestFloodKeepsEstablishedDefaultTable is the same with the default
// table and a flood to match, in the long run.
func TestFloodKeepsEstablishedDefaultTable(t *testing.T) {
	if os.Getenv("BPFNET_LONG") == "" {
		t.Skip("the long run's flood: BPFNET_LONG=1 (make long-test)")
	}
	testFlood(t, floodDefaultTable)
}

func testFlood(t *testing.T, size floodSize) {
	in := tu.NewInstance(t, "")
	lan := tu.NewLAN(t, in)
	create := []string{"network", "create", "pub"}
	if size.entries != "" {
		create = append([]string{"--conntrack-entries", size.entries}, create...)
	}
	in.MustRun(create...)
	web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80")
	cli := in.CreateContainer("cli", "--network", "pub")
	// One SYN-ACK per forged SYN, none retransmitted while a slow guest
	// runs the test: the counters below are bounded by the flood's size.
	if err := kernel.DoPath(web.Netns(), func() error { return kernel.WriteSysctl("net/ipv4/tcp_synack_retries", "0") }); err != nil {
		t.Fatal(err)
	}
	tu.Serve(t, web.Netns(), "tcp", ":80")
	tu.Serve(t, lan, "tcp", tu.LANClientIP+":7000")
	// The forged sources are routed back through the LAN, as by a default route.
	if err := tu.AddRoute(in.HostNetns, "198.18.0.0/15", tu.LANClientIP); err != nil {
		t.Fatal(err)
	}

	var conns []net.Conn
	dial := func(ns, addr string) {
		t.Helper()
		c, err := tu.Dial(ns, "tcp", addr, answerWithin)
		if err != nil {
			t.Fatalf("connect to %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
		if err := roundTrip(c); err != nil {
			t.Fatalf("first exchange with %s: %v", addr, err)
		}
		conns = append(conns, c)
	}
	for range 5 {
		dial(lan, tu.LANHostIP+":8080")
	}
	for range 10 {
		dial(cli.Netns(), tu.LANClientIP+":7000")
	}
	before := ctCounters(t, in)
	if n := established(t, in); n != 25 {
		t.Fatalf("%d established conntrack entries after 15 connections, want 25", n)
	}

	// Traffic on one published and two masqueraded flows during the flood.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []net.Conn{conns[0], conns[5], conns[6]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tu.Stream(c, stop, answerWithin)
		}()
	}

	floodFromLAN(t, in, lan, size.syns)
	floodFromContainer(t, in, cli, size.newFlows)
	time.Sleep(tu.Scale(300 * time.Millisecond)) // the answers to the flood come and go
	close(stop)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("flow carrying traffic %d broke during the flood: %v", i, err)
		}
	}
	for i, c := range conns {
		if err := roundTrip(c); err != nil {
			t.Errorf("established flow %d (to %v) broken after the flood: %v", i, c.RemoteAddr(), err)
		}
	}
	if n := established(t, in); n != 25 {
		t.Errorf("%d established conntrack entries after the flood, want the 25 of before", n)
	}
	// Every forged SYN and new flow made an unconfirmed entry (a
	// masqueraded flow two) and none was confirmed. The LAN host's resets
	// of the container's SYNs may find their entries already evicted by
	// the flood (NO_FLOW: the host's stack takes them), and the web
	// server's SYN-ACKs to forged sources theirs (RESTORED from the port
	// map, with a new entry): both bounded by the flood.
	after := ctCounters(t, in)
	rose := func(name string) uint64 { return after[name] - before[name] }
	want := map[string][2]uint64{
		"NEW":      {uint64(size.syns + 2*size.newFlows), uint64(size.syns+2*size.newFlows) + rose("RESTORED")},
		"NO_FLOW":  {0, uint64(size.newFlows)},
		"RESTORED": {0, uint64(size.syns)},
	}
	for name := range after {
		if got, w := rose(name), want[name]; got < w[0] || got > w[1] {
			t.Errorf("conntrack counter %s rose by %d during the flood, want %d to %d", name, got, w[0], w[1])
		}
	}
	t.Logf("conntrack counters during the flood: %d new, %d replies without state, %d restored",
		rose("NEW"), rose("NO_FLOW"), rose("RESTORED"))
}

// roundTrip makes one echo exchange on an established connection.
func roundTrip(c net.Conn) error {
	msg := []byte("bpfnet-e2e flood round trip")
	_ = c.SetDeadline(time.Now().Add(answerWithin))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echoed %q, sent %q", got, msg)
	}
	return nil
}

// established counts the confirmed entries `conntrack ls` lists.
func established(t *testing.T, in *tu.Instance) int {
	t.Helper()
	var flows []loader.Flow
	in.MustJSON(&flows, "conntrack", "ls", "--format", "json")
	n := 0
	for _, f := range flows {
		if f.Established {
			n++
		}
	}
	return n
}

// ctCounters reads the instance's connection tracking counters, as
// `system stats` shows them.
func ctCounters(t *testing.T, in *tu.Instance) map[string]uint64 {
	t.Helper()
	var st struct{ Conntrack map[string]uint64 }
	in.MustJSON(&st, "system", "stats", "--format", "json")
	if len(st.Conntrack) == 0 {
		t.Fatal("system stats shows no conntrack counters")
	}
	return st.Conntrack
}

// floodFromLAN sends n TCP SYNs to the published port from the LAN's
// wire, each from another forged source in 198.18.0.0/15.
func floodFromLAN(t *testing.T, in *tu.Instance, lan string, n int) {
	t.Helper()
	up, err := tu.LinkByName(in.HostNetns, "uplink")
	if err != nil {
		t.Fatal(err)
	}
	lanLink, err := tu.LinkByName(lan, "uplinkp")
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr(tu.LANHostIP)
	frames := make([][]byte, n)
	for i := range frames {
		src := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
		frames[i] = tu.EthernetFrame(up.Attrs().HardwareAddr, lanLink.Attrs().HardwareAddr, 0x0800,
			tu.IPv4Packet(src.String(), dst.String(), 6, tcpSYN(src, dst, uint16(1024+i%60000), 8080)))
	}
	if err := sendFrames(lan, "uplinkp", frames); err != nil {
		t.Fatal(err)
	}
}

// floodFromContainer sends n SYNs of new flows from cli, with its own
// addresses, to closed ports of the LAN host (n at most 45,000: each has
// its own pair of ports).
func floodFromContainer(t *testing.T, in *tu.Instance, cli *tu.Container, n int) {
	t.Helper()
	ep := in.On(cli, "pub")
	src, dst := netip.MustParseAddr(ep.IPAddress), netip.MustParseAddr(tu.LANClientIP)
	gwMAC := ipam.MAC(netip.MustParseAddr(ep.Gateway))
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = tu.EthernetFrame(gwMAC, ep.MAC(), 0x0800,
			tu.IPv4Packet(src.String(), dst.String(), 6, tcpSYN(src, dst, uint16(20000+i), uint16(9000+i%50000))))
	}
	if err := sendFrames(cli.Netns(), "eth0", frames); err != nil {
		t.Fatal(err)
	}
}

// sendFrames writes frames out of ifname in the namespace at path through
// one packet socket, as fast as the socket takes them.
func sendFrames(path, ifname string, frames [][]byte) error {
	l, err := tu.LinkByName(path, ifname)
	if err != nil {
		return err
	}
	var fd int
	err = tu.InNetns(path, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("packet socket in %s: %w", path, err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6}
	for i, f := range frames {
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			return fmt.Errorf("send frame %d on %s: %w", i, ifname, err)
		}
	}
	return nil
}

// tcpSYN is a TCP SYN segment with its checksum.
func tcpSYN(src, dst netip.Addr, sport, dport uint16) []byte {
	seg := make([]byte, 20)
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint32(seg[4:], uint32(sport)<<16|uint32(dport))
	seg[12] = 5 << 4
	seg[13] = 0x02
	binary.BigEndian.PutUint16(seg[14:], 64240)
	s, d := src.As4(), dst.As4()
	pseudo := append(append(s[:], d[:]...), 0, 6, 0, byte(len(seg)))
	binary.BigEndian.PutUint16(seg[16:], ipChecksum(append(pseudo, seg...)))
	return seg
}
