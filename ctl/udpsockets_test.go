package ctl_test

import (
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
)

// TestCheckUDPSockets: check reports UDP socket programs that disagree
// with the store, either way, and repair (any command that may write)
// puts them as the store says.
func TestCheckUDPSockets(t *testing.T) {
	for _, c := range []struct {
		name     string
		publish  []string
		attached bool // the damage: attached or not, behind bpfnet's back
		want     string
	}{
		{"published, not attached", []string{"5353:53/udp"}, false, "a UDP port is published, but the UDP socket programs"},
		{"attached, none published", []string{"8080:80"}, true, "are attached, but no UDP port is published"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.create(ctl.ContainerSpec{Name: "web", Publish: c.publish})
			f.mustBeClean()
			if err := f.k.DP.SetUDPSockets("", c.attached); err != nil {
				t.Fatal(err)
			}
			if problems := f.check(); !contains(problems, c.want) {
				t.Fatalf("check says %q, want %q", problems, c.want)
			}
			f.do(func(in *ctl.Instance) error { _, err := in.Repair(); return err })
			if f.k.DP.UDPSocketsAttached() == c.attached {
				t.Errorf("after repair the UDP socket programs are attached: %v, want %v", c.attached, !c.attached)
			}
			f.mustBeClean()
		})
	}
}
