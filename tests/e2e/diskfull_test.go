package e2e

import (
	"slices"
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestDiskFull: with no space left on the root's file system, mutating
// commands exit 1 saying so and leave nothing half done; once space is
// free, `system repair` and `system check` find the instance as before:
// the failed container does not exist (no namespace file, no veth, its
// port does not answer) and the failed network and port neither (issue 9,
// contract C8).
func TestDiskFull(t *testing.T) {
	t.Parallel()
	in := tu.NewTmpfsInstance(t, "tc", "4m")
	lan := tu.NewLAN(t, in.Instance)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "web", "--network", "app", "-p", "8000:80")
	before := takeCrashState(t, in.Instance)
	if err := in.Fill(); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"container", "create", "full1", "--network", "app", "-p", "8001:80"},
		{"network", "create", "--subnet", "10.66.0.0/24", "full2"},
		{"container", "publish", "web", "-p", "8002:80"},
	} {
		r := in.Run(args...)
		if !noPanic(t, r, "disk full") {
			continue
		}
		if r.Code != 1 || !strings.Contains(r.Stderr, "no space left on device") {
			t.Errorf("disk full: want exit 1 with \"no space left on device\"; got %s", brief(r))
		}
	}

	if err := in.Free(); err != nil {
		t.Fatal(err)
	}
	if r := in.Run("system", "repair"); r.Code != 0 {
		t.Errorf("system repair after space was freed: %s", brief(r))
	}
	checkConsistent(t, in.Instance, lan, []int{8000, 8001, 8002}, "after the disk was full, space freed and repaired")
	after := takeCrashState(t, in.Instance)
	if !after.equal(before) {
		t.Errorf("the commands that failed for lack of space left a trace:\n%s", after.diff(before))
	}
	if slices.Contains(in.NetnsFiles(), "full1") {
		t.Errorf("the failed container full1 left its namespace file")
	}
}

// TestReadOnlyRoot: on a read-only root, the read-only commands work and
// the mutating ones exit 1 saying why; the published port keeps working
// throughout (issue 9, contract C9).
func TestReadOnlyRoot(t *testing.T) {
	t.Parallel()
	in := tu.NewTmpfsInstance(t, "tc", "4m")
	lan := tu.NewLAN(t, in.Instance)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "web", "--network", "app", "-p", "8000:80")
	before := takeCrashState(t, in.Instance)
	if err := in.SetReadOnly(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.SetReadOnly(false) }) // before the instance's reset

	for _, args := range readOnlyCommands {
		r := in.Run(args...)
		if noPanic(t, r, "read-only root") && r.Code != 0 {
			t.Errorf("read-only root: a command that only reads failed: %s", brief(r))
		}
	}
	for _, args := range [][]string{
		{"network", "create", "x"},
		{"container", "create", "y", "--network", "app"},
		{"container", "publish", "web", "-p", "8001:80"},
		{"container", "rm", "web"},
		{"network", "prune", "-f"},
	} {
		r := in.Run(args...)
		if noPanic(t, r, "read-only root") && (r.Code != 1 || !strings.Contains(r.Stderr, "read-only file system")) {
			t.Errorf("read-only root: want exit 1 with \"read-only file system\"; got %s", brief(r))
		}
	}
	checkPortsFromLAN(t, in.Instance, lan, []int{8000, 8001}, map[int]string{8000: "web"}, "read-only root")

	if err := in.SetReadOnly(false); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, in.Instance, lan, []int{8000, 8001}, "root writable again")
	if after := takeCrashState(t, in.Instance); !after.equal(before) {
		t.Errorf("the refused commands on a read-only root left a trace:\n%s", after.diff(before))
	}
}

// readOnlyCommands are the commands that only read the instance.
var readOnlyCommands = [][]string{
	{"network", "ls"}, {"network", "inspect", "app"}, {"container", "ls"}, {"container", "inspect", "web"},
	{"port", "web"}, {"stats"}, {"conntrack", "ls"}, {"system", "check"},
}
