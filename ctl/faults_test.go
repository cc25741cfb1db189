package ctl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ctltest"
)

var publishing = ctl.ContainerSpec{Name: "web", Publish: []string{"8080:80", "53:53/udp"}}

// A create that fails at any of its changes leaves the machine and the
// store as they were and the journal empty, and its address is free.
func TestFailedCreateLeavesNothing(t *testing.T) {
	for _, op := range []string{"CreateNetns", "CreateVeth", "AttachEndpoint", "PublishPort", "SetPublishesPorts", "StoreApply"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t)
			before := f.k.Summary()
			f.k.FailAt(op, 1)
			err := f.run(func(in *ctl.Instance) error { _, err := in.CreateContainer(publishing); return err })
			if !errors.Is(err, ctltest.ErrInjected) {
				t.Fatalf("create failing at %s: %v", op, err)
			}
			f.sameState("after the failed create", before)
			if !f.missing("web") {
				t.Fatal("the store holds the failed container")
			}
			f.mustBeClean()
			if c := f.create(publishing); c.Endpoints[0].IP != ip("172.17.0.2") {
				t.Fatalf("the next container got %v: the failed one kept 172.17.0.2", c.Endpoints[0].IP)
			}
		})
	}
}

// A create killed after any of its changes leaves an intent in the
// journal; check reports it, and the next mutating command rolls it back:
// the machine then holds either the whole container or none of it, and
// check finds nothing.
func TestCrashedCreateRolledBack(t *testing.T) {
	steps := newFixture(t).changes(func(in *ctl.Instance) error { _, err := in.CreateContainer(publishing); return err })
	if steps < 6 {
		t.Fatalf("a create with ports made %d changes", steps)
	}
	whole := newFixture(t)
	whole.create(publishing)
	for n := 1; n <= steps; n++ {
		f := newFixture(t)
		before := f.k.Summary()
		if !f.crash("", n, func(in *ctl.Instance) error { _, err := in.CreateContainer(publishing); return err }) {
			t.Fatalf("the create ended before its change %d", n)
		}
		last := f.k.Calls()[len(f.k.Calls())-1]
		if !f.journalPending() {
			t.Fatalf("crash after %q: no intent in the journal", last)
		}
		if p := f.check(); !contains(p, "an interrupted command (container create web") {
			t.Fatalf("crash after %q: check says %q", last, p)
		}
		if !f.journalPending() {
			t.Fatal("a read-only command rolled back")
		}
		f.do(func(*ctl.Instance) error { return nil }) // the next command
		f.mustBeClean()
		if f.missing("web") {
			f.sameState("after the roll back of a create crashed after "+last, before)
		} else if got, want := len(f.k.Summary()), len(whole.k.Summary()); got != want {
			t.Fatalf("crash after %q: the container was kept with %d kernel objects, a whole one has %d:\n%s", last, got, want, f.machine())
		}
		t.Logf("crash after %-40s kept: %v", last, !f.missing("web"))
	}
}

// Connect, disconnect, publish, unpublish and rm killed after any change
// are rolled back too: the next command leaves store and machine equal.
func TestCrashedCommandsRolledBack(t *testing.T) {
	commands := map[string]func(*ctl.Instance) error{
		"connect":    func(in *ctl.Instance) error { return in.Connect("back", "web", "", nil) },
		"disconnect": func(in *ctl.Instance) error { return in.Disconnect("bridge", "web") },
		"publish":    func(in *ctl.Instance) error { _, err := in.Publish("web", []string{"9090:90"}); return err },
		"unpublish":  func(in *ctl.Instance) error { return in.Unpublish("web", []string{"80"}) },
		"rm":         func(in *ctl.Instance) error { return in.RemoveContainer("web") },
		"network rm": func(in *ctl.Instance) error { return in.RemoveNetwork("spare") },
	}
	setup := func(t *testing.T) *fixture {
		f := newFixture(t)
		for _, name := range []string{"back", "spare"} {
			f.do(func(in *ctl.Instance) error { _, err := in.CreateNetwork(ctl.NetworkSpec{Name: name}); return err })
		}
		f.create(publishing)
		f.create(ctl.ContainerSpec{Name: "db"})
		return f
	}
	for name, cmd := range commands {
		t.Run(name, func(t *testing.T) {
			steps := setup(t).changes(cmd)
			if steps < 1 {
				t.Fatalf("%s changed nothing", name)
			}
			for i := 1; i <= steps; i++ {
				f := setup(t)
				if !f.crash("", i, cmd) {
					t.Fatalf("%s ended before its change %d", name, i)
				}
				last := f.k.Calls()[len(f.k.Calls())-1]
				if !f.journalPending() {
					t.Fatalf("crash after %q: no intent in the journal", last)
				}
				f.do(func(*ctl.Instance) error { return nil })
				if p := f.check(); len(p) > 0 {
					t.Fatalf("crash after %q, then a command: check says\n%s", last, strings.Join(p, "\n"))
				}
			}
		})
	}
}
