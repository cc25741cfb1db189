package loader

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
)

// Every map the programs pin must be in mapLayouts, with the sizes of the
// Go types the loader uses for it: a pinned map missing there is never
// opened, and loading a program that uses it fails.
func TestMapLayoutsCoverEveryPinnedMap(t *testing.T) {
	spec, err := bpf.LoadContainer()
	if err != nil {
		t.Fatal(err)
	}
	// The host and socket objects load against the container's pins.
	for _, load := range []func() (*ebpf.CollectionSpec, error){bpf.LoadHost, bpf.LoadSock} {
		other, err := load()
		if err != nil {
			t.Fatal(err)
		}
		for name, ms := range other.Maps {
			c, ok := spec.Maps[name]
			if ms.Pinning == ebpf.PinByName && (!ok || c.Type != ms.Type || c.KeySize != ms.KeySize ||
				c.ValueSize != ms.ValueSize || c.MaxEntries != ms.MaxEntries || c.Flags != ms.Flags) {
				t.Errorf("pinned map %s of another object differs from the container object's", name)
			}
		}
	}
	pinned := 0
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		pinned++
		layout, ok := mapLayouts[name]
		if !ok {
			t.Errorf("pinned map %s is not in mapLayouts", name)
			continue
		}
		if k, v := binary.Size(layout[0]), binary.Size(layout[1]); uint32(k) != ms.KeySize || uint32(v) != ms.ValueSize {
			t.Errorf("map %s: mapLayouts says key %d, value %d bytes; the object %d, %d", name, k, v, ms.KeySize, ms.ValueSize)
		}
	}
	if pinned != len(mapLayouts) {
		t.Errorf("mapLayouts has %d maps, the object pins %d", len(mapLayouts), pinned)
	}
}
