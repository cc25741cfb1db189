package cluster

import (
	"net/netip"
	"slices"
	"testing"
)

func TestFromEnv(t *testing.T) {
	t.Setenv("BPFNET_VM", "1")
	t.Setenv("BPFNET_VM_ROLE", "host2")
	t.Setenv("BPFNET_VM_ADDR", "198.18.77.2/24")
	t.Setenv("BPFNET_VM_DEV", "eth0")
	t.Setenv("BPFNET_VM_PEERS", "host1=198.18.77.1,client=198.18.77.3")
	topo, ok, err := FromEnv()
	if err != nil || !ok {
		t.Fatalf("FromEnv: ok=%v err=%v", ok, err)
	}
	if topo.Self != (Host{"host2", netip.MustParseAddr("198.18.77.2")}) || topo.Prefix.Bits() != 24 {
		t.Errorf("self %+v prefix %v", topo.Self, topo.Prefix)
	}
	if h, ok := topo.Peer("client"); !ok || h.Addr != netip.MustParseAddr("198.18.77.3") {
		t.Errorf("peer client = %+v, %v", h, ok)
	}
	if got := topo.Roles(); !slices.Equal(got, []string{"client", "host1", "host2"}) {
		t.Errorf("roles %v", got)
	}
}

func TestFromEnvOutsideVM(t *testing.T) {
	t.Setenv("BPFNET_VM", "")
	t.Setenv("BPFNET_VM_ROLE", "host1")
	if _, ok, err := FromEnv(); ok || err != nil {
		t.Fatalf("outside a VM: ok=%v err=%v", ok, err)
	}
}

func TestFromEnvBadPeers(t *testing.T) {
	t.Setenv("BPFNET_VM", "1")
	t.Setenv("BPFNET_VM_ROLE", "host1")
	t.Setenv("BPFNET_VM_ADDR", "198.18.77.1/24")
	t.Setenv("BPFNET_VM_PEERS", "host2")
	if _, _, err := FromEnv(); err == nil {
		t.Fatal("a peer without an address was accepted")
	}
}

func TestBarrierRefusesBadNames(t *testing.T) {
	topo := Topology{Self: Host{Role: "host1"}}
	for _, name := range []string{"", "two words"} {
		if err := Barrier(topo, name, 0); err == nil {
			t.Errorf("barrier name %q accepted", name)
		}
	}
	if err := Barrier(topo, "x", 0, "host2"); err == nil {
		t.Error("a barrier without this host accepted")
	}
}
