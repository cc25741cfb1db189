package e2e

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/bpfnet/bpfnet/kernel"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestReadOnlyCommandsChangeNothing: ls, inspect, port, stats, conntrack
// ls and system check neither write the kernel nor the store: what the
// next mutating command's host sync puts right (the uplink's program, the
// host's forwarding) they leave as it is, and the store file keeps its
// bytes (issue 9, contract C12).
func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "tc")
	lan := tu.NewLAN(t, in)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "web", "--network", "app", "-p", "8000:80")
	uplinkProgs := func() int {
		n := 0
		for _, ids := range in.AttachedPrograms("uplink") {
			n += len(ids)
		}
		return n
	}
	if uplinkProgs() == 0 {
		t.Fatalf("the uplink has no program after the first commands (a test bug?): %v", in.AttachedPrograms("uplink"))
	}

	// Undo the host sync: the uplink's program and its registration go,
	// and forwarding is off as after a boot.
	removeUplinkProgram(t, in, "uplink")
	if err := tu.InNetns(in.HostNetns, func() error { return tu.WriteSysctl("net/ipv4/ip_forward", "0") }); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(in.Root, "bpfnet.db")
	sum := func() [32]byte {
		b, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()

	for _, args := range readOnlyCommands {
		r := in.Run(args...)
		where := "bpfnet " + strings.Join(args, " ")
		if !noPanic(t, r, where) {
			continue
		}
		if r.Code != 0 && !(args[0] == "system" && r.Code == 1) { // check may report the missing program
			t.Errorf("%s: %s", where, brief(r))
		}
		if n := uplinkProgs(); n != 0 {
			t.Errorf("%s, a command that only reads, attached the uplink's program again: %v", where, in.AttachedPrograms("uplink"))
			removeUplinkProgram(t, in, "uplink")
		}
		if fwd, _ := tu.ReadSysctl(in.HostNetns, "net/ipv4/ip_forward"); fwd != "0" {
			t.Errorf("%s, a command that only reads, turned the host's forwarding on", where)
			_ = tu.InNetns(in.HostNetns, func() error { return tu.WriteSysctl("net/ipv4/ip_forward", "0") })
		}
		if sum() != before {
			t.Errorf("%s, a command that only reads, changed the store file", where)
			before = sum()
		}
	}

	// A mutating command syncs the host.
	in.MustRun("network", "create", "--subnet", "10.78.0.0/24", "other")
	if uplinkProgs() == 0 {
		t.Errorf("network create did not attach the uplink's program again")
	}
	if fwd, _ := tu.ReadSysctl(in.HostNetns, "net/ipv4/ip_forward"); fwd != "1" {
		t.Errorf("network create did not turn the host's forwarding on: ip_forward=%s", fwd)
	}
	checkConsistent(t, in, lan, []int{8000}, "after the host sync")
}

// removeUplinkProgram detaches bpfnet's tc filters from the host device
// ifname and forgets its registration in the pinned bpfnet_uplinks map, as
// if the device had come up after bpfnet's last command.
func removeUplinkProgram(t *testing.T, in *tu.Instance, ifname string) {
	t.Helper()
	h, err := kernel.Handle(in.HostNetns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		filters, err := h.FilterList(l, parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range filters {
			if _, ok := f.(*netlink.BpfFilter); ok {
				if err := h.FilterDel(f); err != nil {
					t.Fatalf("delete the filter of %s: %v", ifname, err)
				}
			}
		}
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", "bpfnet_uplinks"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Delete(uint32(l.Attrs().Index)); err != nil {
		t.Fatalf("forget uplink %s (ifindex %d) in bpfnet_uplinks: %v", ifname, l.Attrs().Index, err)
	}
	if n := len(in.AttachedPrograms(ifname)); n != 0 {
		t.Fatalf("%s still has programs after removing them: %v", ifname, in.AttachedPrograms(ifname))
	}
}
