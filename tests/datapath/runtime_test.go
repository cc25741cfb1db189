package datapath

import (
	"os"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// testRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type testRunAttr struct {
	ProgFd, Retval, DataSizeIn, DataSizeOut uint32
	DataIn, DataOut                         uint64
	Repeat, Duration                        uint32
	CtxSizeIn, CtxSizeOut                   uint32
	CtxIn, CtxOut                           uint64
	Flags, CPU, BatchSize, pad              uint32
}

// runTime runs prog once on a fresh copy of frame, n times, and returns the
// median time of one run as the kernel measured it. One run per call: a
// repeated test run reuses the skb, so a rewriting program would see its
// own output from the second run on.
func runTime(t *testing.T, prog *ebpf.Program, frame []byte, ctx *skbContext, want uint32, n int) time.Duration {
	t.Helper()
	out := make([]byte, len(frame)+256)
	var c skbContext
	if ctx != nil {
		c = *ctx
	}
	attr := testRunAttr{
		ProgFd: uint32(prog.FD()), DataSizeIn: uint32(len(frame)), DataSizeOut: uint32(len(out)),
		DataIn: uint64(uintptr(unsafe.Pointer(&frame[0]))), DataOut: uint64(uintptr(unsafe.Pointer(&out[0]))),
		Repeat: 1, CtxSizeIn: uint32(unsafe.Sizeof(c)), CtxIn: uint64(uintptr(unsafe.Pointer(&c))),
	}
	times := make([]time.Duration, 0, n)
	for range n {
		attr.Duration, attr.Retval, attr.DataSizeOut = 0, 0, uint32(len(out))
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != 0 {
			t.Fatalf("test run: %v", errno)
		}
		if attr.Retval != want {
			t.Fatalf("verdict %s, want %s", verdictName(attr.Retval), verdictName(want))
		}
		times = append(times, time.Duration(attr.Duration))
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// TestProgramRunTime logs how long the programs take on the paths every
// packet of an established flow takes. It measures, it asserts nothing
// about speed: run it with BPFNET_RUNTIME=1 and compare builds.
func TestProgramRunTime(t *testing.T) {
	if os.Getenv("BPFNET_RUNTIME") == "" {
		t.Skip("set BPFNET_RUNTIME=1 to measure the programs' run time")
	}
	const n = 20000
	f := newNAT(t)
	h := newHostNetns(t, f)
	f.publish(t, mapping("", 8080, protoTCP, epA, 80))
	publishesA := epA
	publishesA.PublishesPorts = true
	h.do(t, func() {
		a := load(t, f.d, publishesA)
		b := load(t, f.d, epB)
		// An established published flow and an established masqueraded one.
		syn := fromWire(protoTCP, "192.0.2.1", 8080)
		check(t, f.uplink, syn.frame(), verdictRedirect)
		synAck := fromA(protoTCP, 80, ap(client, 40000), tcpSYN|tcpACK)
		checkCtx(t, a.FromContainer, synAck.frame(), h.ctxA(), verdictRedirect)
		ack := syn.acks(synAck)
		check(t, f.uplink, ack.frame(), verdictRedirect)
		out := fromA(protoTCP, 50000, ap(client, 7000), tcpSYN)
		port := masqueraded(t, h, a, out)
		back := packet{dstMAC: upMAC, srcMAC: clientMAC, src: ap(client, 7000), dst: ap(hostIP, port),
			proto: protoTCP, tcpFlags: tcpSYN | tcpACK}
		checkCtx(t, f.uplink, back.frame(), h.ctxUplink(), verdictRedirect)
		outAck := out.acks(back)
		masqueraded(t, h, a, outAck)
		back.tcpFlags = tcpACK

		reply := synAck
		reply.tcpFlags = tcpACK
		toPeer := packet{dstMAC: epB.MAC, srcMAC: epA.MAC, src: ap(epA.IP, 80), dst: ap(epB.IP, 5000), proto: protoTCP, tcpFlags: tcpACK}.frame()
		peerBack := packet{dstMAC: epA.MAC, srcMAC: epB.MAC, src: ap(epB.IP, 5000), dst: ap(epA.IP, 80), proto: protoTCP, tcpFlags: tcpACK}.frame()
		for _, c := range []struct {
			name  string
			prog  *ebpf.Program
			frame []byte
			ctx   *skbContext
		}{
			{"uplink: published port, client's packet", f.uplink, ack.frame(), h.ctxUplink()},
			{"uplink: reply to a masqueraded flow", f.uplink, back.frame(), h.ctxUplink()},
			{"container: published port's reply", a.FromContainer, reply.frame(), h.ctxA()},
			{"container: masqueraded flow", a.FromContainer, outAck.frame(), h.ctxA()},
			{"container (publishes): tcp to a peer", a.FromContainer, toPeer, h.ctxA()},
			{"container: tcp to a peer", b.FromContainer, peerBack, nil},
			{"container (publishes): udp to a peer", a.FromContainer, udpFrame(epA.IP, epB.IP, epA.MAC, epB.MAC), h.ctxA()},
			{"container: udp to a peer", b.FromContainer, udpFrame(epB.IP, epA.IP, epB.MAC, epA.MAC), nil},
		} {
			t.Logf("%-42s %v", c.name, runTime(t, c.prog, c.frame, c.ctx, verdictRedirect, n))
		}
		for _, e := range f.readCT(t) {
			if e.unconfirmed {
				t.Errorf("flow not established, so not measured as such: %v", e)
			}
		}
	})
}
