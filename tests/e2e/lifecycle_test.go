package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestSecondProcessSeesState: what one process creates, the next one sees,
// in every listing; and the datapath one process set up keeps forwarding
// after it exited.
func TestSecondProcessSeesState(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--label", "team=e2e", "shared")
	in.MustRun("container", "create", "one", "--network", "shared")
	in.MustRun("container", "create", "two", "--network", "shared")

	if got := in.Names("network"); !slices.Equal(got, []string{"bridge", "host", "none", "shared"}) {
		t.Errorf("network ls from a new process: %v", got)
	}
	if got := in.Names("container"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("container ls from a new process: %v", got)
	}
	if out := in.MustRun("network", "ls", "--filter", "label=team=e2e", "--format", "json"); strings.Count(out, `"Name":"shared"`) != 1 || strings.Count(out, "\n") != 1 {
		t.Errorf("network ls --filter label=team=e2e: %q, want shared alone", out)
	}
	n := inspectNetwork(t, in, "shared")
	if len(n.Containers) != 2 || n.Labels["team"] != "e2e" {
		t.Errorf("network inspect shared from a new process: %+v", n)
	}
	one, two := in.Inspect("one"), in.Inspect("two")
	if err := reach(one.Netns(), two.Netns(), in.On(two, "shared").IPAddress); err != nil {
		t.Errorf("one -> two after the creating processes exited: %v", err)
	}
}

// reboot destroys the kernel state as a reboot would: the host namespace
// is replaced by a fresh one at the same path, the instance's bpffs and
// container namespaces are unmounted (their files stay, as on a disk).
func reboot(t *testing.T, in *tu.Instance) { rebootWith(t, in, 2) }

// rebootWith is reboot for an instance with that many container namespaces.
func rebootWith(t *testing.T, in *tu.Instance, containers int) {
	t.Helper()
	if err := tu.DeleteNetns(in.HostNetns); err != nil {
		t.Fatal(err)
	}
	if err := tu.CreateNetns(in.HostNetns, tu.HostSetup); err != nil {
		t.Fatal(err)
	}
	mounts, err := tu.MountsBelow(in.Root)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) < 1+containers {
		t.Fatalf("before the reboot: mounts %v, want the bpffs and %d namespaces", mounts, containers)
	}
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Fatalf("unmount %s: %v", m, err)
		}
	}
}

// TestReboot: after the kernel state is gone, the next command rebuilds
// it from the store and says so; the containers talk again, through the
// requested attach mode, and reach beyond the host as before.
func TestReboot(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		out := outside(t, in, "outside1")
		in.MustRun("network", "create", "app")
		c1 := in.CreateContainer("c1", "--network", "app")
		c2 := in.CreateContainer("c2", "--network", "app")
		ip1, ip2 := in.On(c1, "app").IPAddress, in.On(c2, "app").IPAddress
		if err := reach(c1.Netns(), c2.Netns(), ip2); err != nil {
			t.Fatalf("c1 -> c2 before the reboot: %v", err)
		}
		if err := talk(c1.Netns(), out, "198.51.100.2"); err != nil {
			t.Fatalf("c1 -> beyond the host before the reboot: %v", err)
		}

		reboot(t, in)
		// Read-only commands show the store and change nothing; check says
		// what is missing; the first command that changes something (here
		// repair, as a boot-time unit would run it) rebuilds.
		if r := in.Run("container", "ls"); r.Code != 0 || !strings.Contains(r.Stdout, "c1") || strings.Contains(r.Stderr, "rebuilding") {
			t.Fatalf("read-only command after the reboot: want exit 0, the containers and no rebuild; got %v", r)
		}
		if r := in.Run("system", "check"); r.Code != 1 || !strings.Contains(r.Stderr, "not loaded") {
			t.Errorf("system check after the reboot: want exit 1 and the datapath not loaded; got %v", r)
		}
		r := in.Run("system", "repair")
		if r.Code != 0 || !strings.Contains(r.Stderr, "rebuilding") {
			t.Fatalf("system repair after the reboot: want exit 0 and a rebuild notice; got %v", r)
		}
		if r := in.Run("network", "create", "later"); r.Code != 0 || strings.Contains(r.Stderr, "rebuilding") {
			t.Errorf("second command after the reboot rebuilt again: %v", r)
		}
		if r := in.Run("system", "check"); r.Code != 0 {
			t.Errorf("system check after the rebuild: %v", r)
		}
		for _, c := range []string{"c1", "c2"} {
			st := in.Stats(c, "app")
			in.CheckAttached(st.Endpoint.HostIfname)
		}
		if err := reach(c1.Netns(), c2.Netns(), ip2); err != nil {
			t.Errorf("c1 -> c2 after the reboot: %v", err)
		}
		if err := reach(c2.Netns(), c1.Netns(), ip1); err != nil {
			t.Errorf("c2 -> c1 after the reboot: %v", err)
		}

		// The machine's uplink comes back with the boot.
		out = outside(t, in, "outside2")
		if err := tu.Ping(c1.Netns(), "198.51.100.1", answerWithin); err != nil {
			t.Errorf("c1 -> the host's uplink address after the reboot: %v", err)
		}
		in.MustRun("network", "create", "after-uplink") // a changing command after the uplink appeared
		fwd, _ := tu.ReadSysctl(in.HostNetns, "net/ipv4/ip_forward")
		if err := talk(c1.Netns(), out, "198.51.100.2"); err != nil {
			t.Errorf("c1 -> beyond the host after the reboot (host ip_forward=%s): %v", fwd, err)
		}
	})
}

// TestSystemReset: reset removes everything the instance made: veths, the
// gateway device, container namespaces, the bpffs mount, the store.
func TestSystemReset(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		in.MustRun("network", "create", "n1")
		in.MustRun("network", "create", "--internal", "n2")
		in.MustRun("container", "create", "ca", "--network", "n1")
		in.MustRun("container", "create", "cb", "--network", "n2")
		in.MustRun("container", "create", "cc")
		in.MustRun("container", "create", "ch", "--network", "host")
		in.MustRun("container", "create", "cn", "--network", "none")
		in.MustRun("network", "connect", "n2", "ca")
		if mounts, _ := tu.MountsBelow(in.Root); len(mounts) != 5 {
			t.Errorf("before reset: mounts %v, want the bpffs and 4 namespaces", mounts)
		}

		objs, err := in.BPFObjects()
		if err != nil {
			t.Fatal(err)
		}
		// Per endpoint two programs, on three endpoints; the shared maps.
		if len(objs.Programs) < 6 || len(objs.Maps) < 3 {
			t.Errorf("before reset: programs %v, maps %v; want at least 6 and 3", objs.Programs, objs.Maps)
		}

		in.MustRun("system", "reset", "-f")
		if err := tu.WaitGone(objs, tu.Scale(5*time.Second)); err != nil {
			t.Errorf("after reset: %v", err)
		}
		if mounts, _ := tu.MountsBelow(in.Dir); !slices.Equal(mounts, []string{in.HostNetns}) {
			t.Errorf("after reset: mounts %v, want only the test's host namespace", mounts)
		}
		if links := in.HostLinks(); !slices.Equal(links, []string{"lo"}) {
			t.Errorf("after reset: host links %v, want only lo", links)
		}
		// Only the lock stays, so that commands waiting on it lock the same
		// file as those that come later.
		if entries, _ := filepath.Glob(filepath.Join(in.Root, "*")); !slices.Equal(entries, []string{filepath.Join(in.Root, "lock")}) {
			t.Errorf("after reset: root %s holds %v, want only the lock", in.Root, entries)
		}

		// The next command starts a new instance from nothing.
		if got := in.Names("network"); !slices.Equal(got, []string{"bridge", "host", "none"}) {
			t.Errorf("network ls after reset: %v", got)
		}
		if got := in.Names("container"); len(got) != 0 {
			t.Errorf("container ls after reset: %v", got)
		}
	})
}

// TestRebootWithoutContainers: networks alone come back after a reboot
// too: their gateways are on the host again and system check is clean.
func TestRebootWithoutContainers(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "app")
	rebootWith(t, in, 0)
	in.MustRun("network", "create", "later")
	if r := in.Run("system", "check"); r.Code != 0 {
		t.Errorf("system check after a reboot with networks and no containers: %v", r)
	}
}
