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

	"github.com/bpfnet/bpfnet/bpf"
)

// Datapath is one instance's set of pinned maps plus the program spec that
// is loaded once per endpoint.
type Datapath struct {
	dir       string
	mode      AttachMode
	spec      *ebpf.CollectionSpec
	endpoints *ebpf.Map
	stats     *ebpf.Map
	drops     *ebpf.Map
	fresh     bool
}

// Open loads the instance's maps from the bpffs directory dir, creating and
// pinning them when they do not exist yet (a first run, or after a reboot:
// Fresh tells which). dir is mounted as a bpffs when it is not on one.
func Open(dir string, mode AttachMode) (*Datapath, error) {
	if err := ensureBPFFS(dir); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadContainer()
	if err != nil {
		return nil, fmt.Errorf("load container program spec: %w", err)
	}
	d := &Datapath{dir: dir, mode: mode, spec: spec}
	if _, err := os.Stat(filepath.Join(dir, bpf.ContainerMapBpfnetEndpoints)); errors.Is(err, os.ErrNotExist) {
		d.fresh = true
	}
	for name, m := range map[string]**ebpf.Map{
		bpf.ContainerMapBpfnetEndpoints: &d.endpoints,
		bpf.ContainerMapBpfnetStats:     &d.stats,
		bpf.ContainerMapBpfnetDrops:     &d.drops,
	} {
		*m, err = ebpf.NewMapWithOptions(spec.Maps[name], ebpf.MapOptions{PinPath: dir})
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			d.Close()
			return nil, fmt.Errorf("pinned map %s in %s has another layout (left by an older bpfnet? run 'bpfnet system reset'): %w", name, dir, err)
		}
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("open map %s in %s: %w", name, dir, err)
		}
	}
	return d, nil
}

// Fresh is true when Open had to create the maps: the kernel holds none of
// the state the store describes, so the caller must rebuild it.
func (d *Datapath) Fresh() bool { return d.fresh }

// MaxEndpoints is the number of endpoint slots the maps hold.
func (d *Datapath) MaxEndpoints() uint32 { return d.spec.Maps[bpf.ContainerMapBpfnetStats].MaxEntries }

// Close releases the file descriptors; pins, and so the datapath, stay.
func (d *Datapath) Close() {
	for _, m := range []*ebpf.Map{d.endpoints, d.stats, d.drops} {
		if m != nil {
			m.Close()
		}
	}
}

// Remove unpins every map and link of the instance and unmounts the bpffs
// if Open mounted one. Attached tc filters go with their veths.
func (d *Datapath) Remove() error {
	d.Close()
	return removeBPFFS(d.dir)
}
