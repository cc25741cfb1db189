package ctl_test

import (
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
)

// A network with endpoints cannot go, in Docker's words; once its last
// container is gone it can, and takes its gateway with it.
func TestNetworkRemoveRefusedWithEndpoints(t *testing.T) {
	f := newFixture(t)
	var n *ctl.Network
	f.do(func(in *ctl.Instance) (err error) {
		n, err = in.CreateNetwork(ctl.NetworkSpec{Name: "back", Subnet: "10.10.0.0/24"})
		return err
	})
	if !f.k.Gateways[n.ID] {
		t.Fatalf("network back has no gateway:\n%s", f.machine())
	}
	f.create(ctl.ContainerSpec{Name: "db", Network: "back"})
	f.create(ctl.ContainerSpec{Name: "api", Network: "back"})

	err := f.run(func(in *ctl.Instance) error { return in.RemoveNetwork("back") })
	want := "error while removing network: network back has active endpoints (api, db)"
	if err == nil || err.Error() != want {
		t.Fatalf("rm of a used network: %v, want %q", err, want)
	}
	if !f.k.Gateways[n.ID] || f.journalPending() {
		t.Fatalf("a refused rm changed something (journal pending: %v):\n%s", f.journalPending(), f.machine())
	}
	err = f.run(func(in *ctl.Instance) error { return in.RemoveNetwork("bridge") })
	if err == nil || err.Error() != "bridge is a pre-defined network and cannot be removed" {
		t.Fatalf("rm of the default bridge: %v", err)
	}

	f.do(func(in *ctl.Instance) error { return in.RemoveContainer("db") })
	f.do(func(in *ctl.Instance) error { return in.Disconnect("back", "api") })
	f.do(func(in *ctl.Instance) error { return in.RemoveNetwork("back") })
	if f.k.Gateways[n.ID] {
		t.Fatal("the gateway of a removed network stays")
	}
	f.read(func(in *ctl.Instance) error {
		if _, err := in.Network("back"); err == nil {
			t.Error("the store still holds network back")
		}
		return nil
	})
	f.mustBeClean()
}

// A new network's name is compared with names only: a name that is a
// prefix of an existing network's ID is free (Docker's rule), and lookups
// still take the prefix.
func TestNetworkNameThatPrefixesAnID(t *testing.T) {
	f := newFixture(t)
	var first *ctl.Network
	f.do(func(in *ctl.Instance) (err error) {
		first, err = in.CreateNetwork(ctl.NetworkSpec{Name: "first", Subnet: "10.10.0.0/24"})
		return err
	})
	prefix := first.ID[:1]
	f.do(func(in *ctl.Instance) error {
		_, err := in.CreateNetwork(ctl.NetworkSpec{Name: prefix, Subnet: "10.11.0.0/24"})
		return err
	})
	f.read(func(in *ctl.Instance) error {
		if n, err := in.Network(prefix); err != nil || n.Name != prefix {
			t.Errorf("lookup of %q: %v, %v; want the network named %q (a name before an ID prefix)", prefix, n, err, prefix)
		}
		if n, err := in.Network(first.ID[:12]); err != nil || n.ID != first.ID {
			t.Errorf("lookup of an ID prefix: %v, %v", n, err)
		}
		return nil
	})
	err := f.run(func(in *ctl.Instance) error {
		_, err := in.CreateNetwork(ctl.NetworkSpec{Name: prefix, Subnet: "10.12.0.0/24"})
		return err
	})
	if err == nil || err.Error() != "network with name "+prefix+" already exists" {
		t.Fatalf("a second network named %q: %v", prefix, err)
	}
	f.mustBeClean()
}
