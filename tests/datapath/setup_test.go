package datapath

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/loader"
)

// Verdicts of tc programs (linux/pkt_cls.h).
const (
	verdictOK       = 0 // TC_ACT_OK: on to the host stack
	verdictShot     = 2 // TC_ACT_SHOT: dropped
	verdictRedirect = 7 // TC_ACT_REDIRECT: bpf_redirect or bpf_redirect_peer
)

func verdictName(v uint32) string {
	switch v {
	case verdictOK:
		return "TC_ACT_OK"
	case verdictShot:
		return "TC_ACT_SHOT"
	case verdictRedirect:
		return "TC_ACT_REDIRECT"
	}
	return fmt.Sprintf("verdict %d", v)
}

// Directions as loader.Drop names them.
const (
	fromContainer = "from-container"
	toContainer   = "to-container"
)

// Two networks, numbered as the control plane numbers them.
const (
	network1 = 1
	network2 = 2
)

var (
	subnet1 = netip.MustParsePrefix("172.18.0.0/16")
	gw1     = netip.MustParseAddr("172.18.0.1")
	subnet2 = netip.MustParsePrefix("172.19.0.0/16")
	gw2     = netip.MustParseAddr("172.19.0.1")
	outside = netip.MustParseAddr("1.1.1.1")
	unknown = netip.MustParseAddr("172.18.0.99") // in subnet 1, held by no endpoint
	gw1MAC  = ipam.MAC(gw1)

	// strangerMAC belongs to no endpoint: the MAC of the unknown address.
	strangerMAC = ipam.MAC(unknown)
)

// The endpoints of every test, all published in bpfnet_endpoints: A is the
// one whose programs run; B is A's neighbour on network 1; C is on network
// 2; D is on network 1 but no case sends it anything, so its counters must
// never move.
var (
	epA = endpoint(1, network1, "172.18.0.2", subnet1, gw1, 11)
	epB = endpoint(2, network1, "172.18.0.3", subnet1, gw1, 12)
	epC = endpoint(3, network2, "172.19.0.2", subnet2, gw2, 13)
	epD = endpoint(4, network1, "172.18.0.4", subnet1, gw1, 14)
)

// slots are every slot a test checks: the four endpoints and slot 0, which
// no endpoint uses.
var slots = []uint32{0, epA.Slot, epB.Slot, epC.Slot, epD.Slot}

func endpoint(slot, network uint32, ip string, subnet netip.Prefix, gw netip.Addr, ifindex int) loader.Endpoint {
	addr := netip.MustParseAddr(ip)
	return loader.Endpoint{
		Slot: slot, Network: network, IP: addr, MAC: ipam.MAC(addr),
		Subnet: subnet, Gateway: gw, GatewayMAC: ipam.MAC(gw), HostIfindex: ifindex,
	}
}

// newDatapath opens an instance on a private bpffs and publishes A, B, C
// and D. It skips when the caller is not root or the kernel lacks BPF.
func newDatapath(t testing.TB) *loader.Datapath {
	t.Helper()
	d, _ := newDatapathAt(t)
	return d
}

// newDatapathAt is newDatapath that also returns the bpffs directory, where
// the instance's maps are pinned by name.
func newDatapathAt(t testing.TB) (*loader.Datapath, string) {
	t.Helper()
	return newDatapathSized(t, loader.Sizes{})
}

// newDatapathSized is newDatapathAt with map sizes.
func newDatapathSized(t testing.TB, sizes loader.Sizes) (*loader.Datapath, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a bpffs and loads BPF programs")
	}
	if err := features.HaveProgramType(ebpf.SchedCLS); err != nil {
		t.Skipf("BPF unavailable: cannot load a tc program: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "bpffs")
	// Open mounts a bpffs before it creates the maps; if it then fails, the
	// mount must not outlive the test (nor keep TempDir from going).
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	d, err := loader.OpenSized(dir, loader.AttachAuto, sizes)
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("BPF unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("open datapath: %v", err)
	}
	// Registered after TempDir's cleanup, so it runs first: the bpffs
	// must be unmounted before the directory can be removed.
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Errorf("remove datapath: %v", err)
		}
	})
	for _, ep := range []loader.Endpoint{epA, epB, epC, epD} {
		if err := d.PublishEndpoint(ep); err != nil {
			t.Fatalf("publish %v: %v", ep.IP, err)
		}
	}
	return d, dir
}

// load loads ep's programs into d; the test closes them.
func load(t testing.TB, d *loader.Datapath, ep loader.Endpoint) *loader.EndpointPrograms {
	t.Helper()
	progs, err := d.LoadEndpointPrograms(ep)
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel lacks a feature the programs use: %v", err)
	}
	if err != nil {
		t.Fatalf("load programs of %v: %v", ep.IP, err)
	}
	t.Cleanup(progs.Close)
	return progs
}

// check runs prog once on frame, fails unless the verdict is want and
// returns the frame as the program left it.
func check(t *testing.T, prog *ebpf.Program, frame []byte, want uint32) []byte {
	t.Helper()
	return checkCtx(t, prog, frame, nil, want)
}

// checkCtx is check with a __sk_buff for the run (nil: none).
func checkCtx(t *testing.T, prog *ebpf.Program, frame []byte, ctx *skbContext, want uint32) []byte {
	t.Helper()
	opts := ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
	if ctx != nil {
		opts.Context = *ctx
	}
	got, err := prog.Run(&opts)
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel cannot test-run tc programs: %v", err)
	}
	if errors.Is(err, unix.EINVAL) && shortIPv4(frame) {
		// bpf_prog_test_run_skb returns EINVAL, before the program
		// runs, for an IPv4 frame whose data is shorter than struct
		// iphdr (a 2026 change to net/bpf/test_run.c, in 6.18's stable
		// updates; lore 20260408034623.180320-2-sun.jian.kdev@gmail.com).
		// A real veth delivers such frames: tests/e2e sends them.
		t.Skipf("kernel refuses to test-run an IPv4 frame of %d bytes: %v", len(frame), err)
	}
	if errors.Is(err, unix.EINVAL) && ctx != nil {
		// Before 5.11 a test run takes no ingress_ifindex in its
		// __sk_buff, which bpf_fib_lookup needs here.
		t.Skipf("kernel refuses a __sk_buff context for the test run: %v", err)
	}
	if err != nil {
		t.Fatalf("run %v: %v", prog, err)
	}
	if got != want {
		t.Errorf("verdict = %s, want %s", verdictName(got), verdictName(want))
	}
	return opts.DataOut
}

func shortIPv4(frame []byte) bool {
	return len(frame) < ethLen+20 && binary.BigEndian.Uint16(frame[12:14]) == etherIPv4
}

// checkUnchanged fails when the program rewrote a frame it should only judge.
func checkUnchanged(t *testing.T, in, out []byte) {
	t.Helper()
	if !bytes.Equal(in, out) {
		t.Errorf("frame rewritten:\n got % x\nwant % x", out, in)
	}
}

// The counters one frame leaves on a slot.

func sent(frame []byte) loader.Counters {
	return loader.Counters{TxPackets: 1, TxBytes: uint64(len(frame))}
}

func received(frame []byte) loader.Counters {
	return loader.Counters{RxPackets: 1, RxBytes: uint64(len(frame))}
}

func dropped(reason, direction string) loader.Counters {
	return loader.Counters{Drops: []loader.Drop{{Reason: reason, Direction: direction, Packets: 1}}}
}

// checkCounters compares the counters of every slot in slots with want;
// a slot want does not list must be all zero.
func checkCounters(t *testing.T, d *loader.Datapath, want map[uint32]loader.Counters) {
	t.Helper()
	for _, slot := range slots {
		got, err := d.Counters(slot)
		if err != nil {
			t.Fatalf("read counters: %v", err)
		}
		w := want[slot]
		if !reflect.DeepEqual(normalize(got), normalize(w)) {
			t.Errorf("slot %d counters:\n got %s\nwant %s", slot, format(got), format(w))
		}
	}
}

// normalize sorts the drops, which Counters returns in no set order.
func normalize(c loader.Counters) loader.Counters {
	c.Drops = slices.Clone(c.Drops)
	slices.SortFunc(c.Drops, func(a, b loader.Drop) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Direction, b.Direction))
	})
	if len(c.Drops) == 0 {
		c.Drops = nil
	}
	return c
}

func format(c loader.Counters) string {
	c = normalize(c)
	s := fmt.Sprintf("rx %d/%dB tx %d/%dB drops", c.RxPackets, c.RxBytes, c.TxPackets, c.TxBytes)
	if len(c.Drops) == 0 {
		return s + " none"
	}
	for _, d := range c.Drops {
		s += fmt.Sprintf(" %s(%s)=%d", d.Reason, d.Direction, d.Packets)
	}
	return s
}
