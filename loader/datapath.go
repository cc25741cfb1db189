// Package loader is the only package that knows about the bpf2go objects,
// bpffs pins and attach modes. The control plane calls it through a small
// typed API: open an instance's datapath, attach or detach an endpoint,
// read its counters.
package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpfnet/bpfnet/bpf"
)

// Datapath is one instance's set of pinned maps plus the program specs
// that are loaded per endpoint, per uplink and once for sockets.
type Datapath struct {
	dir       string
	mode      AttachMode
	spec      *ebpf.CollectionSpec // the container programs; it declares every map
	maps      map[string]*ebpf.Map // every pinned map, by name
	endpoints *ebpf.Map
	stats     *ebpf.Map
	drops     *ebpf.Map
	ports     *ebpf.Map
	ct        *ebpf.Map
	uplinks   *ebpf.Map
	hostIPs   *ebpf.Map
	fresh     bool
}

// Sizes are the map sizes an instance may choose; zero keeps the default.
// They apply when the maps are created: a pinned map keeps its size.
type Sizes struct {
	ConntrackEntries uint32
}

// Open loads the instance's maps from the bpffs directory dir, creating and
// pinning them when they do not exist yet (a first run, or after a reboot:
// Fresh tells which). dir is mounted as a bpffs when it is not on one.
func Open(dir string, mode AttachMode) (*Datapath, error) { return OpenSized(dir, mode, Sizes{}) }

// OpenSized is Open with map sizes for maps it creates.
func OpenSized(dir string, mode AttachMode, sizes Sizes) (*Datapath, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, whose
	// default (64 KiB) holds not even the conntrack table.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("lift the memlock limit for BPF maps: %w", err)
	}
	if err := ensureBPFFS(dir); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadContainer()
	if err != nil {
		return nil, fmt.Errorf("load container program spec: %w", err)
	}
	if sizes.ConntrackEntries > 0 {
		spec.Maps[bpf.ContainerMapBpfnetCt].MaxEntries = sizes.ConntrackEntries
	}
	d := &Datapath{dir: dir, mode: mode, spec: spec, maps: map[string]*ebpf.Map{}}
	if _, err := os.Stat(filepath.Join(dir, bpf.ContainerMapBpfnetEndpoints)); errors.Is(err, os.ErrNotExist) {
		d.fresh = true
	}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue // .rodata and friends belong to each loaded program
		}
		m, err := ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: dir})
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			d.Close()
			return nil, fmt.Errorf("pinned map %s in %s has another layout or size (left by another bpfnet version or --conntrack-entries? run 'bpfnet system reset'): %w", name, dir, err)
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("open map %s in %s: %w", name, dir, err)
		}
		d.maps[name] = m
	}
	d.endpoints = d.maps[bpf.ContainerMapBpfnetEndpoints]
	d.stats = d.maps[bpf.ContainerMapBpfnetStats]
	d.drops = d.maps[bpf.ContainerMapBpfnetDrops]
	d.ports = d.maps[bpf.ContainerMapBpfnetPorts]
	d.ct = d.maps[bpf.ContainerMapBpfnetCt]
	d.uplinks = d.maps[bpf.ContainerMapBpfnetUplinks]
	d.hostIPs = d.maps[bpf.ContainerMapBpfnetHostIps]
	return d, nil
}

// Fresh is true when Open had to create the maps: the kernel holds none of
// the state the store describes, so the caller must rebuild it.
func (d *Datapath) Fresh() bool { return d.fresh }

// MaxEndpoints is the number of endpoint slots the maps hold.
func (d *Datapath) MaxEndpoints() uint32 { return d.spec.Maps[bpf.ContainerMapBpfnetStats].MaxEntries }

// Close releases the file descriptors; pins, and so the datapath, stay.
func (d *Datapath) Close() {
	for _, m := range d.maps {
		m.Close()
	}
}

// loadOptions gives a program collection the instance's maps.
func (d *Datapath) loadOptions(spec *ebpf.CollectionSpec) *ebpf.CollectionOptions {
	maps := map[string]*ebpf.Map{}
	for name := range spec.Maps {
		if m, ok := d.maps[name]; ok {
			maps[name] = m
		}
	}
	return &ebpf.CollectionOptions{MapReplacements: maps}
}

// Remove unpins every map and link of the instance and unmounts the bpffs
// if Open mounted one. Attached tc filters go with their veths.
func (d *Datapath) Remove() error {
	d.Close()
	return removeBPFFS(d.dir)
}
