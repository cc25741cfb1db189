package ctl_test

import (
	"path/filepath"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ctltest"
)

// Reset removes everything the instance made, what the store names and
// the orphans its marks and directories identify, and forgets it all.
func TestResetRemovesOrphansToo(t *testing.T) {
	f := newFixture(t)
	empty := ctltest.New()
	empty.AddVeth("eth0", "", "", "")
	web := f.create(ctl.ContainerSpec{Name: "web", Publish: []string{"8080:80"}})
	alias := f.k.Links[web.Endpoints[0].HostIfname].Alias
	f.k.AddVeth("vethdead", alias[:len(alias)-12]+"0123456789ab", "", "")
	f.k.Netns[filepath.Join(f.opts.Root, "netns", "ghost")] = &ctltest.Netns{Bound: true}
	f.k.AddVeth("vethother", "another tool's", "", "") // not bpfnet's: it stays
	empty.AddVeth("vethother", "another tool's", "", "")

	if err := ctl.Reset(f.opts); err != nil {
		t.Fatal(err)
	}
	f.sameState("after reset", empty.Summary())
	if f.k.DatapathPinned("") {
		t.Fatal("the datapath's maps stay pinned")
	}
	if !f.missing("web") {
		t.Fatal("the store still holds web")
	}
	if f.journalPending() {
		t.Fatal("reset left an intent in the journal")
	}
	f.read(func(in *ctl.Instance) error {
		if n := len(in.Networks()); n != 0 {
			t.Errorf("the store still holds %d networks", n)
		}
		return nil
	})
}
