package ctl_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ctltest"
	"github.com/bpfnet/bpfnet/store/memstore"
)

// These tests run the control plane's orchestration against a fake
// machine, datapath and driver (ctltest) and an in-memory store: no root,
// no kernel. tests/e2e runs the same commands on the kernel.

// fixture is one instance on a fake machine. Each command opens the
// instance, runs and closes it, as the CLI does.
type fixture struct {
	t    *testing.T
	k    *ctltest.Kernel
	opts ctl.Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := ctltest.New()
	k.HostAddrs[netip.MustParseAddr("192.168.1.10")] = k.AddVeth("eth0", "", "", "").Index
	k.HostRoutes = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	f := &fixture{t: t, k: k, opts: ctl.Options{
		Root: filepath.Join(t.TempDir(), "root"), Machine: k, Store: k.Store(memstore.New()),
		Drivers: ctltest.Drivers(k), Stderr: testLog{t},
	}}
	f.do(func(*ctl.Instance) error { return nil }) // the predefined networks
	return f
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run opens the instance for a mutating command and runs cmd on it.
func (f *fixture) run(cmd func(*ctl.Instance) error) error {
	f.t.Helper()
	in, err := ctl.Open(f.opts)
	if err != nil {
		return err
	}
	defer in.Close()
	return cmd(in)
}

// do is run for a command that must succeed.
func (f *fixture) do(cmd func(*ctl.Instance) error) {
	f.t.Helper()
	if err := f.run(cmd); err != nil {
		f.t.Fatal(err)
	}
}

// read runs cmd on an instance opened read-only.
func (f *fixture) read(cmd func(*ctl.Instance) error) {
	f.t.Helper()
	in, err := ctl.OpenReadOnly(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	defer in.Close()
	if err := cmd(in); err != nil {
		f.t.Fatal(err)
	}
}

// crash runs cmd on an open instance and stops it right after the nth
// change of op, as a kill -9 would; it reports whether cmd got that far.
func (f *fixture) crash(op string, nth int, cmd func(*ctl.Instance) error) bool {
	f.t.Helper()
	in, err := ctl.Open(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.k.CrashAfter(op, nth)
	crashed, err := f.k.Run(func() error { return cmd(in) })
	f.k.ClearFaults()
	in.Close() // what the kernel does for a killed process: its lock goes
	if !crashed && err != nil {
		f.t.Fatal(err)
	}
	return crashed
}

// changes runs cmd and counts the changes it made: a crash may come after
// any of them.
func (f *fixture) changes(cmd func(*ctl.Instance) error) int {
	f.t.Helper()
	var n int
	f.do(func(in *ctl.Instance) error {
		n = len(f.k.Calls())
		err := cmd(in)
		n = len(f.k.Calls()) - n
		return err
	})
	return n
}

func (f *fixture) create(spec ctl.ContainerSpec) *ctl.Container {
	f.t.Helper()
	var c *ctl.Container
	f.do(func(in *ctl.Instance) (err error) { c, err = in.CreateContainer(spec); return err })
	return c
}

func (f *fixture) container(ref string) *ctl.Container {
	f.t.Helper()
	var c *ctl.Container
	f.read(func(in *ctl.Instance) (err error) { c, err = in.Container(ref); return err })
	return c
}

// missing tells that the store has no container ref.
func (f *fixture) missing(ref string) bool {
	f.t.Helper()
	in, err := ctl.OpenReadOnly(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	defer in.Close()
	_, err = in.Container(ref)
	return errors.Is(err, ctl.ErrNotFound)
}

// check is `system check`: every difference between store and kernel.
func (f *fixture) check() []string {
	f.t.Helper()
	var problems []string
	f.read(func(in *ctl.Instance) (err error) { problems, err = in.Check(); return err })
	return problems
}

func (f *fixture) mustBeClean() {
	f.t.Helper()
	if p := f.check(); len(p) > 0 {
		f.t.Fatalf("check found differences:\n%s\nmachine:\n%s", strings.Join(p, "\n"), f.machine())
	}
	if f.journalPending() {
		f.t.Fatal("the journal holds an intent")
	}
}

func (f *fixture) journalPending() bool {
	_, err := os.Stat(filepath.Join(f.opts.Root, "journal"))
	return err == nil
}

func (f *fixture) machine() string { return strings.Join(f.k.Summary(), "\n") }

// storeIPs are the addresses of every endpoint the store holds.
func (f *fixture) storeIPs() []netip.Addr {
	f.t.Helper()
	var ips []netip.Addr
	f.read(func(in *ctl.Instance) error {
		all, err := in.Containers()
		for _, c := range all {
			for _, ep := range c.Endpoints {
				ips = append(ips, ep.IP)
			}
		}
		return err
	})
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	return ips
}

// sameState fails unless the machine's state is want.
func (f *fixture) sameState(what string, want []string) {
	f.t.Helper()
	if got := f.k.Summary(); !slices.Equal(got, want) {
		f.t.Fatalf("%s: the machine holds\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func contains(problems []string, part string) bool {
	return slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, part) })
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func epOn(c *ctl.Container, n *ctl.Network) *ctl.Endpoint {
	if ep := c.Endpoint(n.ID); ep != nil {
		return ep
	}
	panic(fmt.Sprintf("container %s has no endpoint on %s", c.Name, n.Name))
}
