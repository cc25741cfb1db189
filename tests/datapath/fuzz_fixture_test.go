package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// fuzzFixture is an instance holding fuzzWorld, the programs under test
// loaded into it, and the host namespace bpf_fib_lookup answers from.
// Before every frame it puts the world's conntrack and fragment entries
// back as they were, so each frame meets the same state, the one the
// model reads; after it, it reads and clears the counters the frame moved.
type fuzzFixture struct {
	nat      *natFixture
	h        *hostNetns
	w        world
	variants []fuzzVariant // A's container programs, one per kind of network
	ct       map[bpf.CtKey]ctFlow
	current  int // the variant whose PublishesPorts is in bpfnet_endpoint_state
	// state is the world as the model expects the maps to hold it now: w
	// after a reset, then as the frames since left it.
	state *world
}

// fuzzVariant is A's pair of container programs loaded with one endpoint
// configuration.
type fuzzVariant struct {
	name  string
	ep    loader.Endpoint
	progs *loader.EndpointPrograms
}

// The variants of A: its network's flags and whether it publishes ports.
func fuzzEndpoints() []fuzzVariant {
	v := func(name string, edit func(*loader.Endpoint)) fuzzVariant {
		ep := epA
		ep.PublishesPorts = true
		edit(&ep)
		return fuzzVariant{name: name, ep: ep}
	}
	return []fuzzVariant{
		v("publishing", func(*loader.Endpoint) {}),
		v("not publishing", func(ep *loader.Endpoint) { ep.PublishesPorts = false }),
		v("icc disabled", func(ep *loader.Endpoint) { ep.ICCDisabled = true }),
		v("internal", func(ep *loader.Endpoint) { ep.Internal = true }),
		v("no masquerade", func(ep *loader.Endpoint) { ep.NoMasquerade = true }),
	}
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	t.Helper()
	nat := newNAT(t)
	fx := &fuzzFixture{nat: nat, h: newHostNetns(t, nat), w: fuzzWorld(), ct: map[bpf.CtKey]ctFlow{}, current: -1}
	nat.publish(t, fx.w.ports...)
	for _, c := range fx.w.ct {
		fx.ct[c.key()] = c
	}
	for _, v := range fuzzEndpoints() {
		v.progs = load(t, nat.d, v.ep)
		fx.variants = append(fx.variants, v)
	}
	names, err := dropReasonNamesOf()
	if err != nil {
		t.Fatal(err)
	}
	dropReasonNames = names
	fx.skipWithoutContext(t)
	fx.reset(t)
	return fx
}

// skipWithoutContext skips the test on kernels that refuse a __sk_buff
// context in a test run: before 5.11 it cannot carry ingress_ifindex,
// which bpf_fib_lookup needs (setup_test.go's check does the same). It
// asks with one well-formed frame, so that a frame the kernel refuses
// later is a finding, not a skip.
func (fx *fuzzFixture) skipWithoutContext(t testing.TB) {
	t.Helper()
	udp := frames.SetL4Checksum(epA.IP, epB.IP, protoUDP, frames.UDP(5000, 53, []byte("probe")))
	frame := frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, frames.IPv4{Src: epA.IP, Dst: epB.IP, Proto: protoUDP}.Packet(udp))
	opts := ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256), Context: *fx.h.ctxA()}
	var err error
	fx.h.do(t, func() { _, err = fx.variants[0].progs.FromContainer.Run(&opts) })
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("kernel refuses a __sk_buff context for the test run: %v", err)
	}
	fx.collect(t) // the probe's counters are no frame's
}

// dropReasonNamesOf reads enum drop_reason's names from the container
// object's BTF.
func dropReasonNamesOf() (map[bpf.DropReason]string, error) {
	spec, err := bpf.LoadContainer()
	if err != nil {
		return nil, fmt.Errorf("load container spec: %w", err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("find enum drop_reason in BTF: %w", err)
	}
	names := map[bpf.DropReason]string{}
	for _, v := range enum.Values {
		names[bpf.DropReason(v.Value)] = strings.TrimPrefix(v.Name, "DROP_")
	}
	return names, nil
}

// reset puts the world's entries back: conntrack entries the last frames
// touched, moved, replaced or added, and fragments they recorded.
func (fx *fuzzFixture) reset(t testing.TB) {
	t.Helper()
	fx.state = fx.w.clone()
	for _, name := range []string{bpf.ContainerMapBpfnetCt, bpf.ContainerMapBpfnetCtNew} {
		m := fx.nat.maps[name]
		var k bpf.CtKey
		var v []byte
		var stale []bpf.CtKey
		it := m.Iterate()
		for it.Next(&k, &v) {
			if c, ok := fx.ct[k]; !ok || c.unconfirmed != (name == bpf.ContainerMapBpfnetCtNew) {
				stale = append(stale, k)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatalf("list %s: %v", name, err)
		}
		for _, k := range stale {
			if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				t.Fatalf("delete from %s: %v", name, err)
			}
		}
	}
	for _, c := range fx.w.ct {
		fx.nat.putCT(t, c)
	}
	frags := fx.nat.maps[bpf.ContainerMapBpfnetFrags]
	var fk bpf.FragKey
	var fp bpf.FragPorts
	var stale []bpf.FragKey
	it := frags.Iterate()
	for it.Next(&fk, &fp) {
		if !slices.ContainsFunc(fx.w.frags, func(f fragFlow) bool { return f.key() == fk }) {
			stale = append(stale, fk)
		}
	}
	for _, k := range stale {
		_ = frags.Delete(k)
	}
	for _, f := range fx.w.frags {
		if err := frags.Put(f.key(), bpf.FragPorts{Sport: portKey(f.sport), Dport: portKey(f.dport)}); err != nil {
			t.Fatalf("record fragment %v: %v", f, err)
		}
	}
}

// moved is what a frame left in the counters: packets counted per slot
// and direction (each of the frame's length), drops.
type moved struct {
	counted map[slotCount]uint64
	bytes   map[slotCount]uint64
	drops   map[dropCount]uint64
	ctStats map[bpf.CtStat]uint64
}

// collect reads and clears the counters of every slot and the drops.
func (fx *fuzzFixture) collect(t testing.TB) moved {
	t.Helper()
	mv := moved{counted: map[slotCount]uint64{}, bytes: map[slotCount]uint64{}, drops: map[dropCount]uint64{},
		ctStats: map[bpf.CtStat]uint64{}}
	ctStats := fx.nat.maps[bpf.ContainerMapBpfnetCtStats]
	for s := bpf.CtStat(0); s < bpf.CtStatCT_STAT_MAX; s++ {
		var perCPU []uint64
		if err := ctStats.Lookup(s, &perCPU); err != nil {
			t.Fatalf("read conntrack counter %d: %v", s, err)
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		if n == 0 {
			continue
		}
		mv.ctStats[s] = n
		if err := ctStats.Put(s, make([]uint64, len(perCPU))); err != nil {
			t.Fatalf("clear conntrack counter %d: %v", s, err)
		}
	}
	stats := fx.nat.maps[bpf.ContainerMapBpfnetStats]
	for _, slot := range slots {
		var perCPU []bpf.EndpointStats
		if err := stats.Lookup(slot, &perCPU); err != nil {
			t.Fatalf("read counters of slot %d: %v", slot, err)
		}
		var sum bpf.EndpointStats
		for _, s := range perCPU {
			sum.RxPackets += s.RxPackets
			sum.RxBytes += s.RxBytes
			sum.TxPackets += s.TxPackets
			sum.TxBytes += s.TxBytes
		}
		if sum == (bpf.EndpointStats{}) {
			continue
		}
		if sum.TxPackets > 0 {
			mv.counted[slotCount{slot, dirFrom}] = sum.TxPackets
			mv.bytes[slotCount{slot, dirFrom}] = sum.TxBytes
		}
		if sum.RxPackets > 0 {
			mv.counted[slotCount{slot, dirTo}] = sum.RxPackets
			mv.bytes[slotCount{slot, dirTo}] = sum.RxBytes
		}
		zero := make([]bpf.EndpointStats, len(perCPU))
		if err := stats.Put(slot, zero); err != nil {
			t.Fatalf("clear counters of slot %d: %v", slot, err)
		}
	}
	drops := fx.nat.maps[bpf.ContainerMapBpfnetDrops]
	var k bpf.DropKey
	var perCPU []uint64
	var keys []bpf.DropKey
	it := drops.Iterate()
	for it.Next(&k, &perCPU) {
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		mv.drops[dropCount{k.Slot, k.Reason, k.Direction}] = n
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("list drops: %v", err)
	}
	for _, k := range keys {
		if err := drops.Delete(k); err != nil {
			t.Fatalf("clear drop counter: %v", err)
		}
	}
	return mv
}

// ran is what the program did with one frame.
type ran struct {
	verdict uint32
	out     []byte
	moved   moved
	ct      []ctFlow // bpfnet_ct and bpfnet_ct_new after the run
}

// snatPort is the masquerade port of the flow src -> dst the run started:
// its unconfirmed outbound entry's.
func (r ran) snatPort(proto uint8, src, dst netip.AddrPort) uint16 {
	for _, c := range r.ct {
		if c.proto == proto && c.src == src && c.dst == dst && c.unconfirmed && c.kind == snatOrig {
			return c.nat.Port()
		}
	}
	return 0
}

// errRefused: BPF_PROG_TEST_RUN takes no frame shorter than Ethernet, nor
// (since a 2026 stable update) an IPv4 frame shorter than its header;
// such frames are counted, not compared.
var errRefused = errors.New("the kernel refuses to test-run this frame")

// refusedFrame: a frame bpf_prog_test_run_skb refuses: no longer than
// Ethernet, or IPv4 or IPv6 shorter than its header (IPv4: as its header
// length field says).
func refusedFrame(frame []byte) bool {
	if len(frame) <= ethLen {
		return true
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherIPv4:
		return len(frame) < ethLen+max(ipv4Len, int(frame[ethLen]&0x0f)*4)
	case etherIPv6:
		return len(frame) < ethLen+40
	}
	return false
}

// run runs prog on frame in the host namespace and collects what it did.
func (fx *fuzzFixture) run(t testing.TB, prog *ebpf.Program, ctx *skbContext, frame []byte) (ran, error) {
	t.Helper()
	opts := ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
	if ctx != nil {
		opts.Context = *ctx
	}
	var r ran
	var err error
	fx.h.do(t, func() { r.verdict, err = prog.Run(&opts) })
	if errors.Is(err, unix.EINVAL) && refusedFrame(frame) {
		return r, errRefused
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel cannot test-run tc programs: %v", err)
	}
	if err != nil {
		return r, fmt.Errorf("run %v on %d bytes % x: %w", prog, len(frame), frame, err)
	}
	r.out = opts.DataOut
	r.moved = fx.collect(t)
	r.ct = fx.nat.readCT(t)
	return r, nil
}

// useVariant makes bpfnet_endpoint_state say what variant i's endpoint
// says about its published ports (the variants share A's slot).
func (fx *fuzzFixture) useVariant(t testing.TB, i int) {
	t.Helper()
	if fx.current == i {
		return
	}
	if err := fx.nat.d.SetPublishesPorts(epA.Slot, fx.variants[i].ep.PublishesPorts); err != nil {
		t.Fatal(err)
	}
	fx.current = i
}
