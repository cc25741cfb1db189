package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// skbContext is the head of struct __sk_buff (linux/bpf.h) up to ifindex:
// BPF_PROG_TEST_RUN takes a prefix, zero-fills the rest and refuses
// anything but the fields it lets a test set.
type skbContext struct {
	Len, PktType, Mark, QueueMapping, Protocol uint32
	VlanPresent, VlanTCI, VlanProto, Priority  uint32
	IngressIfindex                             uint32 // skb_iif: the device the packet came in on
	Ifindex                                    uint32 // skb->dev when > 1; loopback otherwise
}

// The host side of the NAT tests: the uplink's network 192.0.2.0/24.
var (
	hostIP    = netip.MustParseAddr("192.0.2.1")    // the uplink's address, masquerade source
	hostIP2   = netip.MustParseAddr("192.0.2.3")    // another address of the host
	client    = netip.MustParseAddr("192.0.2.2")    // a machine on the uplink's network
	elsewhere = netip.MustParseAddr("198.51.100.7") // neither the host's nor a container's
	loopback  = netip.MustParseAddr("127.0.0.1")
	upMAC     = net.HardwareAddr{0x02, 0x00, 0xc0, 0x00, 0x02, 0x01} // the uplink's
	clientMAC = net.HardwareAddr{0x02, 0x00, 0xc0, 0x00, 0x02, 0x02}
)

// Connection tracking timeouts (enum ct_timeout in bpf/lib/ct.h).
const (
	ctSYN     = 60 * time.Second
	ctTCP     = 21600 * time.Second
	ctClosing = 10 * time.Second
	ctUDP     = 60 * time.Second
)

// Masquerade source ports (enum masquerade_range) and the entry bit of a
// reply seen.
const (
	snatFirst   = int(bpf.MasqueradeRangeSNAT_PORT_FIRST)
	snatLast    = int(bpf.MasqueradeRangeSNAT_PORT_LAST)
	ctSeenReply = bpf.CtFlagsCT_SEEN_REPLY
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// natFixture is an instance with A, B, C and D published, the host
// addresses hostIP, hostIP2, 127.0.0.1 and the gateway gw1 registered (the
// control plane registers every address of the host namespace, the
// gateways on bpfnet0 among them), and the uplink
// program loaded with the instance's maps, which the test reads and
// writes directly.
type natFixture struct {
	d      *loader.Datapath
	maps   map[string]*ebpf.Map // the pinned maps, by name
	uplink *ebpf.Program        // bpfnet_from_uplink
}

func newNAT(t testing.TB) *natFixture {
	t.Helper()
	return newNATSized(t, loader.Sizes{})
}

// newNATSized is newNAT with map sizes.
func newNATSized(t testing.TB, sizes loader.Sizes) *natFixture {
	t.Helper()
	d, dir := newDatapathSized(t, sizes)
	spec, err := bpf.LoadHost()
	if err != nil {
		t.Fatalf("load uplink program spec: %v", err)
	}
	f := &natFixture{d: d, maps: map[string]*ebpf.Map{}}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatalf("open pinned map %s: %v", name, err)
		}
		t.Cleanup(func() { m.Close() })
		f.maps[name] = m
	}
	for name, m := range f.maps {
		spec.Maps[name].MaxEntries = m.MaxEntries() // sized by the test
	}
	var progs bpf.HostPrograms
	err = spec.LoadAndAssign(&progs, &ebpf.CollectionOptions{MapReplacements: f.maps})
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel lacks a feature the uplink program uses: %v", err)
	}
	if err != nil {
		t.Fatalf("load uplink program: %v", err)
	}
	t.Cleanup(func() { progs.BpfnetFromUplink.Close() })
	f.uplink = progs.BpfnetFromUplink
	if err := d.SetHostIPs([]netip.Addr{hostIP, hostIP2, loopback, gw1}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *natFixture) publish(t testing.TB, ports ...loader.Port) {
	t.Helper()
	for _, p := range ports {
		if err := f.d.PublishPort(p); err != nil {
			t.Fatal(err)
		}
	}
}

// addUplink registers ifindex as an uplink masquerading to ip.
func (f *natFixture) addUplink(t testing.TB, ifindex int, ip netip.Addr) {
	t.Helper()
	info := bpf.UplinkInfo{Ip: ipKey(ip)}
	if err := f.maps[bpf.ContainerMapBpfnetUplinks].Put(uint32(ifindex), &info); err != nil {
		t.Fatalf("register uplink %d: %v", ifindex, err)
	}
}

// ipKey and portKey are an address and a port as the maps hold them:
// network byte order in memory.
func ipKey(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func portKey(p uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, p))
}

func keyIP(k uint32) netip.Addr {
	return netip.AddrFrom4([4]byte(binary.NativeEndian.AppendUint32(nil, k)))
}

func keyPort(k uint16) uint16 {
	return binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, k))
}

// ctFlow is a connection tracking entry as a test states it.
type ctFlow struct {
	proto    uint8
	src, dst netip.AddrPort // the tuple it matches
	kind     bpf.CtKind
	nat      netip.AddrPort
	ifindex  uint32
	closing  bool
	life     time.Duration // the timeout it was last given; 0: expired
	// unconfirmed: in bpfnet_ct_new (no handshake or reply yet), not in
	// bpfnet_ct; seen is then its CT_SEEN_REPLY bit.
	unconfirmed, seen bool
}

func (c ctFlow) String() string {
	s := fmt.Sprintf("%d %v -> %v kind %d nat %v ifindex %d", c.proto, c.src, c.dst, c.kind, c.nat, c.ifindex)
	if c.closing {
		s += " closing"
	}
	if c.unconfirmed {
		s += " unconfirmed"
	}
	if c.seen {
		s += " seen-reply"
	}
	return s
}

// pending is c before its flow is confirmed: in bpfnet_ct_new.
func pending(c ctFlow) ctFlow {
	c.unconfirmed = true
	return c
}

func (c ctFlow) key() bpf.CtKey {
	return bpf.CtKey{
		Saddr: ipKey(c.src.Addr()), Daddr: ipKey(c.dst.Addr()),
		Sport: portKey(c.src.Port()), Dport: portKey(c.dst.Port()), Proto: c.proto,
	}
}

func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// putCT writes c into bpfnet_ct (bpfnet_ct_new if unconfirmed), expiring
// in c.life or, for 0, expired. An established entry takes no slot of
// bpfnet_ct_ring: the sweep never reclaims it.
func (f *natFixture) putCT(t testing.TB, c ctFlow) {
	t.Helper()
	e := bpf.CtEntry{
		Expires: 1, NatAddr: ipKey(c.nat.Addr()), NatPort: portKey(c.nat.Port()),
		Kind: c.kind, Ifindex: c.ifindex,
	}
	if c.closing {
		e.Closing = 1
	}
	if c.seen {
		e.Flags = uint8(ctSeenReply)
	}
	if c.life > 0 {
		e.Expires = uint64(monotonicNow() + c.life)
	}
	var err error
	if c.unconfirmed {
		err = f.maps[bpf.ContainerMapBpfnetCtNew].Put(c.key(), &bpf.CtNewEntry{E: e})
	} else {
		err = f.maps[bpf.ContainerMapBpfnetCt].Put(c.key(), &e)
	}
	if err != nil {
		t.Fatalf("write conntrack entry %v: %v", c, err)
	}
}

// readCT returns every entry of bpfnet_ct, expired ones included, with
// life the time it has left.
func (f *natFixture) readCT(t testing.TB) []ctFlow {
	t.Helper()
	var out []ctFlow
	var k bpf.CtKey
	var e bpf.CtEntry
	var h bpf.CtNewEntry
	now := monotonicNow()
	add := func(e bpf.CtEntry, unconfirmed bool) {
		if k.Pad != [3]uint8{} {
			t.Errorf("conntrack key with padding % x", k.Pad)
		}
		out = append(out, ctFlow{
			proto: k.Proto,
			src:   ap(keyIP(k.Saddr), keyPort(k.Sport)), dst: ap(keyIP(k.Daddr), keyPort(k.Dport)),
			kind: e.Kind, nat: ap(keyIP(e.NatAddr), keyPort(e.NatPort)), ifindex: e.Ifindex,
			closing: e.Closing != 0, life: time.Duration(e.Expires) - now,
			unconfirmed: unconfirmed, seen: e.Flags&uint8(ctSeenReply) != 0,
		})
	}
	it := f.maps[bpf.ContainerMapBpfnetCt].Iterate()
	for it.Next(&k, &e) {
		add(e, false)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("list conntrack: %v", err)
	}
	it = f.maps[bpf.ContainerMapBpfnetCtNew].Iterate()
	for it.Next(&k, &h) {
		add(h.E, true)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("list unconfirmed conntrack entries: %v", err)
	}
	return out
}

// checkCT fails unless bpfnet_ct holds exactly want. An entry's time left
// must be at most its life and not more than a few seconds less, or
// negative for life 0.
func (f *natFixture) checkCT(t *testing.T, want ...ctFlow) {
	t.Helper()
	got := f.readCT(t)
	const slack = 10 * time.Second
	for _, w := range want {
		i := slices.IndexFunc(got, func(g ctFlow) bool { return g.key() == w.key() && g.unconfirmed == w.unconfirmed })
		if i < 0 {
			t.Errorf("conntrack entry missing: %v", w)
			continue
		}
		g, life, left := got[i], w.life, got[i].life
		got = slices.Delete(got, i, i+1)
		g.life, w.life = 0, 0
		if g != w {
			t.Errorf("conntrack entry:\n got %v\nwant %v", g, w)
		}
		if life == 0 && left > 0 || life > 0 && (left > life || left <= life-slack) {
			t.Errorf("conntrack entry %v: %v left, want a fresh timeout of %v (0: expired)", g, left, life)
		}
	}
	for _, g := range got {
		t.Errorf("unexpected conntrack entry: %v (%v left)", g, g.life)
	}
}
