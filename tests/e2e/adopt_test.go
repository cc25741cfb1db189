package e2e

import (
	"path/filepath"
	"testing"
	"time"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestAdoptNetns: --netns adopts a namespace bpfnet did not make (here one
// with an eth0 of its own already): the endpoint takes the next free name,
// traffic flows to a bpfnet-made container, and removing the container
// leaves the namespace alive, only without bpfnet's interface.
func TestAdoptNetns(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	other := tu.NewNetns(t, t.TempDir(), "outsider", nil)
	// An eth0 the process already had: a veth whose peer sits in a
	// throwaway namespace.
	spare := tu.NewNetns(t, t.TempDir(), "spare", nil)
	if err := tu.AddVeth(other, "eth0", "198.51.100.1/24", spare, "198.51.100.2/24"); err != nil {
		t.Fatal(err)
	}
	in.MustRun("network", "create", "adopt")
	made := in.CreateContainer("made", "--network", "adopt")
	adopted := in.CreateContainer("adopted", "--network", "adopt", "--netns", other)
	if got := adopted.Netns(); got != other {
		t.Errorf("SandboxKey = %q, want the adopted %q", got, other)
	}
	ep := in.On(adopted, "adopt")
	links, err := tu.Links(other)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(links, "eth0") || !contains(links, "eth1") {
		t.Errorf("adopted namespace links %v: want its own eth0 kept and bpfnet's eth1", links)
	}
	if err := tu.Ping(other, in.On(made, "adopt").IPAddress, tu.Scale(5*time.Second)); err != nil {
		t.Errorf("adopted -> made: %v", err)
	}
	if err := tu.Ping(made.Netns(), ep.IPAddress, tu.Scale(5*time.Second)); err != nil {
		t.Errorf("made -> adopted: %v", err)
	}
	in.MustFail("already the namespace of container adopted", "container", "create", "twice", "--network", "adopt", "--netns", other)

	in.MustRun("container", "rm", "adopted")
	links, err = tu.Links(other)
	if err != nil {
		t.Fatalf("adopted namespace gone after rm: %v", err)
	}
	if contains(links, "eth1") || !contains(links, "eth0") {
		t.Errorf("after rm, adopted namespace links %v: want eth0 only", links)
	}
	for _, f := range in.NetnsFiles() {
		if filepath.Base(f) == "adopted" {
			t.Errorf("bpfnet made a namespace file for an adopted namespace: %s", f)
		}
	}
}

func contains(list []string, name string) bool {
	for _, s := range list {
		if s == name || len(s) > len(name) && s[:len(name)+1] == name+" " {
			return true
		}
	}
	return false
}
