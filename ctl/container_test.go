package ctl_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
)

// A container is a namespace, a veth with the instance's mark and the
// datapath's entry for its address; rm takes all of it.
func TestCreateAndRemove(t *testing.T) {
	f := newFixture(t)
	before := f.k.Summary()
	c := f.create(ctl.ContainerSpec{Name: "web"})

	if len(c.Endpoints) != 1 || c.Endpoints[0].IP != ip("172.17.0.2") {
		t.Fatalf("endpoints %+v, want one at 172.17.0.2", c.Endpoints)
	}
	ep := c.Endpoints[0]
	netns := filepath.Join(f.opts.Root, "netns", "web")
	if ns := f.k.Netns[netns]; c.Netns != netns || ns == nil || !ns.Bound || !ns.Devices[ep.Ifname] {
		t.Fatalf("namespace %s (store: %s) is not bound with %s:\n%s", netns, c.Netns, ep.Ifname, f.machine())
	}
	veth := f.k.Links[ep.HostIfname]
	if veth == nil || !strings.HasPrefix(veth.Alias, "bpfnet:") || veth.PeerNetns != netns {
		t.Fatalf("veth %s is missing or unmarked:\n%s", ep.HostIfname, f.machine())
	}
	if e, ok := f.k.DP.Endpoints[ep.IP]; !ok || e.Ifindex != veth.Index || e.Slot != ep.Slot {
		t.Fatalf("the datapath's entry of %v is %+v, want ifindex %d slot %d", ep.IP, e, veth.Index, ep.Slot)
	}
	if got := f.container("web"); got.ID != c.ID {
		t.Fatalf("the store gives %s for web, want %s", got.ID, c.ID)
	}
	f.mustBeClean()

	f.do(func(in *ctl.Instance) error { return in.RemoveContainer("web") })
	if !f.missing("web") {
		t.Fatal("the store still holds web")
	}
	f.sameState("after rm", before)
	f.mustBeClean()
}

// The name of a container whose create failed can be used again, and the
// name of a live one cannot.
func TestContainerNames(t *testing.T) {
	f := newFixture(t)
	f.create(ctl.ContainerSpec{Name: "web"})
	err := f.run(func(in *ctl.Instance) error { _, err := in.CreateContainer(ctl.ContainerSpec{Name: "web"}); return err })
	if err == nil || !strings.Contains(err.Error(), `The container name "/web" is already in use`) {
		t.Fatalf("a second web: %v", err)
	}
	f.k.FailAt("CreateNetns", 1)
	if err := f.run(func(in *ctl.Instance) error { _, err := in.CreateContainer(ctl.ContainerSpec{Name: "db"}); return err }); err == nil {
		t.Fatal("create with a failing namespace succeeded")
	}
	f.create(ctl.ContainerSpec{Name: "db"})
	f.mustBeClean()
}

// Read-only commands neither change the machine nor sync the host.
func TestReadOnlyChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.create(ctl.ContainerSpec{Name: "web", Publish: []string{"8080:80"}})
	calls := f.k.Calls()
	f.read(func(in *ctl.Instance) error {
		if _, err := in.Containers(); err != nil {
			return err
		}
		if _, err := in.Check(); err != nil {
			return err
		}
		_, err := in.Counters()
		return err
	})
	if got := f.k.Calls(); !slices.Equal(got, calls) {
		t.Fatalf("read-only commands made calls %q", got[len(calls):])
	}
}

// A command that changes the instance syncs the host once, before its
// first change; opening alone does not, nor do publish and unpublish,
// which change only published ports.
func TestHostSyncedByChanges(t *testing.T) {
	f := newFixture(t)
	f.create(ctl.ContainerSpec{Name: "web"})
	syncs := func(cmd func(*ctl.Instance) error) int {
		t.Helper()
		before := len(f.k.Calls())
		f.do(cmd)
		return strings.Count(strings.Join(f.k.Calls()[before:], " "), "SyncHost")
	}
	if n := syncs(func(*ctl.Instance) error { return nil }); n != 0 {
		t.Errorf("a mutating open alone synced the host %d times", n)
	}
	// A port answers through every uplink: publish looks for new ones.
	if n := syncs(func(in *ctl.Instance) error { _, err := in.Publish("web", []string{"8080:80"}); return err }); n != 1 {
		t.Errorf("publish synced the host %d times, want once", n)
	}
	if n := syncs(func(in *ctl.Instance) error { return in.Unpublish("web", []string{"8080:80"}) }); n != 1 {
		t.Errorf("unpublish synced the host %d times, want once", n)
	}
	if got := f.container("web"); got == nil {
		t.Fatal("web is gone")
	}
	if n := syncs(func(in *ctl.Instance) error {
		if _, err := in.CreateContainer(ctl.ContainerSpec{Name: "db"}); err != nil {
			return err
		}
		return in.RemoveContainer("web")
	}); n != 1 {
		t.Errorf("create and rm in one command synced the host %d times, want once", n)
	}
	if n := syncs(func(in *ctl.Instance) error { _, err := in.Repair(); return err }); n != 1 {
		t.Errorf("repair synced the host %d times, want once", n)
	}
	f.mustBeClean()
}
