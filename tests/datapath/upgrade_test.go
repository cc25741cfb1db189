package datapath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/loader"
)

// TestOldConntrackTableReplaced: an instance left by a build whose
// bpfnet_ct was one LRU (of the same layout) opens with its flow tables
// replaced, the size it had kept (the ring as large, the unconfirmed table
// a quarter), and every other map (a published port here) as it was; the
// index of published ports that build lacked is made from the ports.
func TestOldConntrackTableReplaced(t *testing.T) {
	d, dir := newDatapathAt(t)
	if err := d.PublishPort(mapping("", 8080, protoTCP, epA, 80)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	pin := filepath.Join(dir, bpf.ContainerMapBpfnetCt)
	for _, p := range []string{pin, filepath.Join(dir, bpf.ContainerMapBpfnetPublishedAs)} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: 16, ValueSize: 24, MaxEntries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Pin(pin); err != nil {
		t.Fatal(err)
	}
	old.Close()

	d2, err := loader.Open(dir, loader.AttachAuto)
	if err != nil {
		t.Fatalf("open an instance with the old table: %v", err)
	}
	defer d2.Close()
	for name, want := range map[string]struct {
		typ  ebpf.MapType
		size uint32
	}{
		bpf.ContainerMapBpfnetCt:     {ebpf.Hash, 1000},
		bpf.ContainerMapBpfnetCtRing: {ebpf.Array, 1000},
		bpf.ContainerMapBpfnetCtNew:  {ebpf.LRUHash, 250},
	} {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != want.typ || m.MaxEntries() != want.size {
			t.Errorf("%s: %v of %d entries, want %v of %d", name, m.Type(), m.MaxEntries(), want.typ, want.size)
		}
		m.Close()
	}
	ports, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.ContainerMapBpfnetPorts), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ports.Close()
	var k bpf.PortKey
	var v bpf.PortTarget
	if it := ports.Iterate(); !it.Next(&k, &v) {
		t.Errorf("the published port is gone with the old table")
	}
	checkPublishedAs(t, dir, 80, protoTCP, 8080, 1)
	load(t, d2, epA)
}

// checkPublishedAs fails unless bpfnet_published_as says A's port is
// published mappings times, on hostPort (0: unknown).
func checkPublishedAs(t *testing.T, dir string, port uint16, proto uint8, hostPort uint16, mappings uint16) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.ContainerMapBpfnetPublishedAs), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var as bpf.PublishedAs
	key := bpf.TargetKey{Ip: ipKey(epA.IP), Port: portKey(port), Proto: proto}
	if err := m.Lookup(key, &as); err != nil {
		if mappings != 0 {
			t.Errorf("published as of %v:%d: %v", epA.IP, port, err)
		}
		return
	}
	if as.Mappings != mappings || keyPort(as.HostPort) != hostPort || as.HostIp != 0 {
		t.Errorf("%v:%d published %d times, as %v:%d; want %d times, as 0.0.0.0:%d", epA.IP, port,
			as.Mappings, keyIP(as.HostIp), keyPort(as.HostPort), mappings, hostPort)
	}
}

// TestPublishedAs: the index of published ports by target counts the
// mappings to a port and names one only while it is the only one, the
// remaining one when one of two goes.
func TestPublishedAs(t *testing.T) {
	d, dir := newDatapathAt(t)
	publish := func(p loader.Port) {
		t.Helper()
		if err := d.PublishPort(p); err != nil {
			t.Fatal(err)
		}
	}
	unpublish := func(p loader.Port) {
		t.Helper()
		if err := d.UnpublishPort(p); err != nil {
			t.Fatal(err)
		}
	}
	p8080, p8081 := mapping("", 8080, protoTCP, epA, 80), mapping("", 8081, protoTCP, epA, 80)
	publish(p8080)
	publish(p8080) // the same again: no second mapping
	checkPublishedAs(t, dir, 80, protoTCP, 8080, 1)
	publish(p8081)
	checkPublishedAs(t, dir, 80, protoTCP, 8080, 2)
	unpublish(p8080)
	checkPublishedAs(t, dir, 80, protoTCP, 8081, 1)
	publish(mapping("", 8081, protoTCP, epA, 81)) // 8081 now leads elsewhere
	checkPublishedAs(t, dir, 80, protoTCP, 0, 0)
	checkPublishedAs(t, dir, 81, protoTCP, 8081, 1)
	unpublish(p8081)
	checkPublishedAs(t, dir, 81, protoTCP, 0, 0)
}
