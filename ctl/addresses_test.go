package ctl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
)

// No address is ever held twice, through creates, connects, disconnects,
// removals, failed commands and crashed ones: after every command the
// store's addresses are distinct and exactly those the datapath forwards
// to.
func TestAddressesNeverGivenTwice(t *testing.T) {
	f := newFixture(t)
	f.do(func(in *ctl.Instance) error {
		_, err := in.CreateNetwork(ctl.NetworkSpec{Name: "back", Subnet: "10.9.0.0/24"})
		return err
	})
	create := func(name, network string) func(*ctl.Instance) error {
		return func(in *ctl.Instance) error {
			_, err := in.CreateContainer(ctl.ContainerSpec{Name: name, Network: network})
			return err
		}
	}
	connect := func(name string) func(*ctl.Instance) error {
		return func(in *ctl.Instance) error { return in.Connect("back", name, "", nil) }
	}
	steps := []struct {
		what  string
		cmd   func(*ctl.Instance) error
		fail  string // a change that fails
		crash string // a change after which the command dies
	}{
		{what: "create alpha", cmd: create("alpha", "")},
		{what: "create beta", cmd: create("beta", "")},
		{what: "create gamma, attach fails", cmd: create("gamma", ""), fail: "AttachEndpoint"},
		{what: "create gamma, dies after attach", cmd: create("gamma", ""), crash: "AttachEndpoint"},
		{what: "create gamma", cmd: create("gamma", "")},
		{what: "connect alpha", cmd: connect("alpha")},
		{what: "connect beta, attach fails", cmd: connect("beta"), fail: "AttachEndpoint"},
		{what: "connect beta, dies after attach", cmd: connect("beta"), crash: "AttachEndpoint"},
		{what: "create delta on back", cmd: create("delta", "back")},
		{what: "connect beta", cmd: connect("beta")},
		{what: "disconnect alpha", cmd: func(in *ctl.Instance) error { return in.Disconnect("back", "alpha") }},
		{what: "connect gamma, store write fails", cmd: connect("gamma"), fail: "StoreApply"},
		{what: "connect gamma", cmd: connect("gamma")},
		{what: "rm beta, dies after the detach", cmd: func(in *ctl.Instance) error { return in.RemoveContainer("beta") }, crash: "DetachEndpoint"},
		{what: "rm beta", cmd: func(in *ctl.Instance) error { return in.RemoveContainer("beta") }},
		{what: "create eps", cmd: create("eps", "")},
		{what: "connect eps", cmd: connect("eps")},
	}
	for _, s := range steps {
		switch {
		case s.crash != "":
			if !f.crash(s.crash, 1, s.cmd) {
				t.Fatalf("%s: did not reach %s", s.what, s.crash)
			}
		case s.fail != "":
			f.k.FailAt(s.fail, 1)
			if err := f.run(s.cmd); err == nil {
				t.Fatalf("%s: succeeded", s.what)
			}
			f.k.ClearFaults()
		default:
			f.do(s.cmd)
		}
		f.do(func(*ctl.Instance) error { return nil }) // rolls a crash back
		stored, forwarded := f.storeIPs(), f.k.EndpointIPs()
		if len(slices.Compact(slices.Clone(stored))) != len(stored) {
			t.Fatalf("after %s: the store gives an address twice: %v", s.what, stored)
		}
		if !slices.Equal(stored, forwarded) {
			t.Fatalf("after %s: the store holds %v, the datapath forwards to %v", s.what, stored, forwarded)
		}
		if p := f.check(); len(p) > 0 {
			t.Fatalf("after %s: check says\n%s", s.what, strings.Join(p, "\n"))
		}
		t.Logf("after %-30s %v", s.what+":", stored)
	}
}
