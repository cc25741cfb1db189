// Package loader is the only package that knows about the bpf2go objects,
// bpffs pins and attach modes. The control plane calls it through a small
// typed API: open an instance's datapath, attach or detach an endpoint,
// read its counters.
package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/bpf"
)

// Datapath is one instance's set of pinned maps plus the program specs
// that are loaded per endpoint, per uplink and once for sockets.
type Datapath struct {
	dir         string
	mode        AttachMode
	spec        *ebpf.CollectionSpec // the container programs; it declares every map
	maps        map[string]*ebpf.Map // every pinned map, by name
	endpoints   *ebpf.Map
	epState     *ebpf.Map
	stats       *ebpf.Map
	drops       *ebpf.Map
	ports       *ebpf.Map
	ct          *ebpf.Map // established flows
	ctNew       *ebpf.Map // flows not confirmed yet
	ctStats     *ebpf.Map
	publishedAs *ebpf.Map
	uplinks     *ebpf.Map
	hostIPs     *ebpf.Map
	hostNetns   *ebpf.Map
	fresh       bool
	unindexed   bool // bpfnet_published_as is new beside published ports
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
	if err := liftMemlock(); err != nil {
		return nil, err
	}
	if err := ensureBPFFS(dir); err != nil {
		return nil, err
	}
	d := &Datapath{dir: dir, mode: mode, maps: map[string]*ebpf.Map{}}
	// Most commands find the maps pinned and load no program: opening the
	// pins spares parsing the object (milliseconds per command).
	if !d.openPinned() {
		if _, err := os.Stat(filepath.Join(dir, bpf.ContainerMapBpfnetEndpoints)); errors.Is(err, os.ErrNotExist) {
			d.fresh = true
		}
		if err := d.createMaps(sizes); err != nil {
			d.Close()
			return nil, err
		}
	}
	d.assignMaps()
	if err := d.initSweep(); err != nil {
		d.Close()
		return nil, err
	}
	if d.unindexed {
		if err := d.indexPublished(); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func (d *Datapath) assignMaps() {
	d.endpoints = d.maps[bpf.ContainerMapBpfnetEndpoints]
	d.epState = d.maps[bpf.ContainerMapBpfnetEndpointState]
	d.stats = d.maps[bpf.ContainerMapBpfnetStats]
	d.drops = d.maps[bpf.ContainerMapBpfnetDrops]
	d.ports = d.maps[bpf.ContainerMapBpfnetPorts]
	d.ct = d.maps[bpf.ContainerMapBpfnetCt]
	d.ctNew = d.maps[bpf.ContainerMapBpfnetCtNew]
	d.ctStats = d.maps[bpf.ContainerMapBpfnetCtStats]
	d.publishedAs = d.maps[bpf.ContainerMapBpfnetPublishedAs]
	d.uplinks = d.maps[bpf.ContainerMapBpfnetUplinks]
	d.hostIPs = d.maps[bpf.ContainerMapBpfnetHostIps]
	d.hostNetns = d.maps[bpf.ContainerMapBpfnetHostNetns]
}

// initSweep tells the datapath the size of bpfnet_ct_ring, once: until it
// knows, no flow is confirmed.
func (d *Datapath) initSweep() error {
	sweepMap, ring := d.maps[bpf.ContainerMapBpfnetCtSweep], d.maps[bpf.ContainerMapBpfnetCtRing]
	var sw bpf.CtSweep
	if err := sweepMap.Lookup(uint32(0), &sw); err != nil {
		return fmt.Errorf("read conntrack sweep: %w", err)
	}
	if sw.Size == ring.MaxEntries() {
		return nil
	}
	sw = bpf.CtSweep{Size: ring.MaxEntries()}
	if err := sweepMap.Update(uint32(0), &sw, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set conntrack sweep size: %w", err)
	}
	return nil
}

// liftMemlock removes RLIMIT_MEMLOCK where it limits BPF maps: kernels
// before 5.11 charge their memory to it, and its default (64 KiB) holds not
// even the conntrack table; later kernels charge the memory cgroup, and
// there a process without CAP_SYS_RESOURCE must not fail here. It is not
// cilium/ebpf's rlimit package because that one probes the kernel in its
// init, a millisecond of every CLI call, to learn what uname tells.
func liftMemlock() error {
	if kernelAtLeast(5, 11) {
		return nil
	}
	inf := &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, inf); err != nil {
		return fmt.Errorf("lift the memlock limit for BPF maps: %w", err)
	}
	return nil
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var got [2]int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &got[0], &got[1])
	return got[0] > major || (got[0] == major && got[1] >= minor)
}

// mapLayouts are the Go types the loader reads and writes each map with:
// a pinned map whose key or value size differs was made by another build.
var mapLayouts = map[string][2]any{
	bpf.ContainerMapBpfnetEndpoints:     {uint32(0), bpf.EndpointInfo{}},
	bpf.ContainerMapBpfnetEndpointState: {uint32(0), bpf.EndpointState{}},
	bpf.ContainerMapBpfnetStats:         {uint32(0), bpf.EndpointStats{}},
	bpf.ContainerMapBpfnetDrops:         {bpf.DropKey{}, uint64(0)},
	bpf.ContainerMapBpfnetPorts:         {bpf.PortKey{}, bpf.PortTarget{}},
	bpf.ContainerMapBpfnetCt:            {bpf.CtKey{}, bpf.CtEntry{}},
	bpf.ContainerMapBpfnetCtNew:         {bpf.CtKey{}, bpf.CtNewEntry{}},
	bpf.ContainerMapBpfnetCtRing:        {uint32(0), bpf.CtKey{}},
	bpf.ContainerMapBpfnetCtSweep:       {uint32(0), bpf.CtSweep{}},
	bpf.ContainerMapBpfnetCtStats:       {bpf.CtStat(0), uint64(0)},
	bpf.ContainerMapBpfnetPublishedAs:   {bpf.TargetKey{}, bpf.PublishedAs{}},
	bpf.ContainerMapBpfnetFrags:         {bpf.FragKey{}, bpf.FragPorts{}},
	bpf.ContainerMapBpfnetUplinks:       {uint32(0), bpf.UplinkInfo{}},
	bpf.ContainerMapBpfnetHostIps:       {uint32(0), uint8(0)},
	bpf.ContainerMapBpfnetUdpRev:        {bpf.UdpRevKey{}, bpf.PortTarget{}},
	bpf.ContainerMapBpfnetHostNetns:     {uint32(0), bpf.HostNetns{}},
}

// openPinned opens every map from its pin; false when one is missing or
// of another layout, and then it holds none.
func (d *Datapath) openPinned() bool {
	for name, layout := range mapLayouts {
		m, err := loadPinnedMap(filepath.Join(d.dir, name))
		if err != nil {
			d.Close()
			return false
		}
		d.maps[name] = m
		if int(m.KeySize()) != binary.Size(layout[0]) || int(m.ValueSize()) != binary.Size(layout[1]) {
			d.Close()
			return false
		}
	}
	// Before the two tables, bpfnet_ct was an LRU of the same layout.
	if d.maps[bpf.ContainerMapBpfnetCt].Type() != ebpf.Hash {
		d.Close()
		return false
	}
	return true
}

// flowState are the maps that hold only flows, which an upgrade may
// replace when their layout changed: the flows go, as with a flush (the
// datapath never translates a flow it lost anew, see DROP_NO_FLOW).
var flowState = map[string]bool{
	bpf.ContainerMapBpfnetCt:      true,
	bpf.ContainerMapBpfnetCtNew:   true,
	bpf.ContainerMapBpfnetCtRing:  true,
	bpf.ContainerMapBpfnetCtSweep: true,
	bpf.ContainerMapBpfnetFrags:   true,
}

// createMaps creates and pins the maps that are missing, from the object.
func (d *Datapath) createMaps(sizes Sizes) error {
	base, err := d.containerSpec()
	if err != nil {
		return err
	}
	spec := base.Copy()
	// A pinned table keeps its size (one an upgrade replaces too); the
	// ring has a slot per entry of it.
	n := sizes.ConntrackEntries
	if ct, err := ebpf.LoadPinnedMap(filepath.Join(d.dir, bpf.ContainerMapBpfnetCt), nil); err == nil {
		n = ct.MaxEntries()
		ct.Close()
	}
	if n > 0 {
		spec.Maps[bpf.ContainerMapBpfnetCt].MaxEntries = n
		spec.Maps[bpf.ContainerMapBpfnetCtRing].MaxEntries = n
		spec.Maps[bpf.ContainerMapBpfnetCtNew].MaxEntries = max(n/uint32(bpf.LimitsCT_NEW_SHARE), uint32(bpf.LimitsCT_NEW_MIN))
	}
	_, err = os.Stat(filepath.Join(d.dir, bpf.ContainerMapBpfnetPublishedAs))
	newPublishedAs := errors.Is(err, os.ErrNotExist)
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue // .rodata and friends belong to each loaded program
		}
		m, err := ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: d.dir})
		if errors.Is(err, ebpf.ErrMapIncompatible) && flowState[name] {
			if err := os.Remove(filepath.Join(d.dir, name)); err != nil {
				return fmt.Errorf("replace map %s of another layout in %s: %w", name, d.dir, err)
			}
			m, err = ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: d.dir})
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return fmt.Errorf("pinned map %s in %s has another layout or size (left by another bpfnet version or --conntrack-entries? run 'bpfnet system reset'): %w", name, d.dir, err)
		}
		if err != nil {
			return fmt.Errorf("open map %s in %s: %w", name, d.dir, err)
		}
		d.maps[name] = m
	}
	d.unindexed = newPublishedAs && !d.fresh
	return nil
}

// containerSpec parses the container object once per Datapath; callers
// copy it before changing it.
func (d *Datapath) containerSpec() (*ebpf.CollectionSpec, error) {
	if d.spec == nil {
		spec, err := bpf.LoadContainer()
		if err != nil {
			return nil, fmt.Errorf("load container program spec: %w", err)
		}
		d.spec = spec
	}
	return d.spec, nil
}

// Version names the datapath this build loads (bpf.Version). It hashes
// the objects, a tenth of a millisecond: once per process, not per open.
var Version = sync.OnceValue(bpf.Version)

// Fresh is true when Open had to create the maps: the kernel holds none of
// the state the store describes, so the caller must rebuild it.
func (d *Datapath) Fresh() bool { return d.fresh }

// MaxEndpoints is the number of endpoint slots the maps hold.
func (d *Datapath) MaxEndpoints() uint32 { return d.stats.MaxEntries() }

// Close releases the file descriptors; pins, and so the datapath, stay.
func (d *Datapath) Close() {
	for name, m := range d.maps {
		m.Close()
		delete(d.maps, name)
	}
}

// loadOptions gives a program collection the instance's maps. spec must be
// the caller's own (a copy): it takes the sizes of the pinned maps, which
// --conntrack-entries may have made other than the object's.
func (d *Datapath) loadOptions(spec *ebpf.CollectionSpec) *ebpf.CollectionOptions {
	maps := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if m, ok := d.maps[name]; ok {
			maps[name] = m
			ms.MaxEntries = m.MaxEntries()
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
