package smoke

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// passProgram loads a sched_cls program that returns TC_ACT_OK: no C, no clang.
func passProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatalf("remove memlock limit: %v", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "smoke_pass",
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("load sched_cls program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// vethForAttach creates a veth pair for one test and returns its first end.
func vethForAttach(t *testing.T, name string) netlink.Link {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestProgTestRun: BPF_PROG_TEST_RUN runs a sched_cls program on a packet.
func TestProgTestRun(t *testing.T) {
	inVM(t)
	prog := passProgram(t)
	ret, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	if err != nil {
		capability(t, "prog_test_run", "no")
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	if ret != 0 {
		t.Fatalf("program returned %d, want 0", ret)
	}
	capability(t, "prog_test_run", "yes")
}

// TestClsactClsBPF: a clsact qdisc and a direct-action cls_bpf filter attach on every kernel.
func TestClsactClsBPF(t *testing.T) {
	inVM(t)
	prog := passProgram(t)
	l := vethForAttach(t, "smokecls")
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err != nil {
		capability(t, "clsact", "no")
		t.Fatalf("add clsact qdisc: %v", err)
	}
	capability(t, "clsact", "yes")
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		filter := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: l.Attrs().Index,
				Parent:    parent,
				Handle:    1,
				Protocol:  unix.ETH_P_ALL,
				Priority:  1,
			},
			Fd:           prog.FD(),
			Name:         "smoke_pass",
			DirectAction: true,
		}
		if err := netlink.FilterAdd(filter); err != nil {
			capability(t, "cls_bpf", "no")
			t.Fatalf("add cls_bpf filter (parent %#x): %v", parent, err)
		}
	}
	capability(t, "cls_bpf", "yes")
}

// TestTCX: TCX attach works from 6.6 on and is reported unsupported below; nothing else.
func TestTCX(t *testing.T) {
	inVM(t)
	prog := passProgram(t)
	l := vethForAttach(t, "smoketcx")
	lk, err := link.AttachTCX(link.TCXOptions{
		Interface: l.Attrs().Index,
		Program:   prog,
		Attach:    ebpf.AttachTCXIngress,
	})
	want := kernelAtLeast(t, 6, 6)
	switch {
	case err == nil:
		lk.Close()
		capability(t, "tcx", "yes")
		if !want {
			t.Errorf("TCX attached on a kernel older than 6.6")
		}
	case errors.Is(err, ebpf.ErrNotSupported):
		capability(t, "tcx", fmt.Sprintf("no (%v)", err))
		if want {
			t.Errorf("TCX unsupported on a 6.6+ kernel: %v", err)
		}
	default:
		capability(t, "tcx", "error")
		t.Fatalf("attach TCX: %v", err)
	}
}

func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release: %v", err)
	}
	return ma > major || ma == major && mi >= minor
}
