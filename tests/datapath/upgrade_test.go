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
// a quarter), and every other map (a published port here) as it was.
func TestOldConntrackTableReplaced(t *testing.T) {
	d, dir := newDatapathAt(t)
	if err := d.PublishPort(mapping("", 8080, protoTCP, epA, 80)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	pin := filepath.Join(dir, bpf.ContainerMapBpfnetCt)
	if err := os.Remove(pin); err != nil {
		t.Fatal(err)
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
	var k bpf.ContainerPortKey
	var v bpf.ContainerPortTarget
	if it := ports.Iterate(); !it.Next(&k, &v) {
		t.Errorf("the published port is gone with the old table")
	}
	load(t, d2, epA)
}
