package ctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/store"
	"github.com/bpfnet/bpfnet/store/boltstore"
)

// DefaultRoot is where the host's instance keeps its state.
const DefaultRoot = "/var/lib/bpfnet"

// Options locate one instance: its state, pins, namespaces and host.
// Several instances live side by side when each has its own Root and
// HostNetns (tests and benchmarks run that way).
type Options struct {
	Root      string // store and lock
	BPFFS     string // pins; default /sys/fs/bpf/bpfnet, or Root/bpffs for another Root
	NetnsDir  string // named container namespaces; default /run/netns, or Root/netns
	HostNetns string // the instance's "host" network namespace; default the caller's
	Attach    loader.AttachMode
	Sizes     loader.Sizes // map sizes, used when the maps are created
	Stderr    io.Writer    // notices such as a rebuild after a reboot
	Fault     string       // the crash tests' hook, BPFNET_FAULT (fault.go)
	// RestoreStore lets Open replace a damaged, empty or missing store
	// with its backup (`system repair`).
	RestoreStore bool
	// Discard lets Open start from an empty store when the store is
	// damaged or lost and cannot be restored (`system reset`, which then
	// finds the instance's kernel objects by scanning).
	Discard bool
	// Machine, Store and Drivers, when set, stand for the machine's
	// kernel, the store in Root and bpfnet's drivers: unit tests give
	// fakes (ctl/ctltest) and need no privilege. What is given stays the
	// caller's: Close leaves it open. A Machine comes with its Drivers: a
	// real driver would act on the kernel behind a fake machine's back.
	Machine Machine
	Store   store.Store
	Drivers *driver.Registry
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	if abs, err := filepath.Abs(o.Root); err == nil {
		o.Root = abs
	}
	if o.BPFFS == "" {
		o.BPFFS = "/sys/fs/bpf/bpfnet"
		if o.Root != DefaultRoot {
			o.BPFFS = filepath.Join(o.Root, "bpffs")
		}
	}
	if o.NetnsDir == "" {
		o.NetnsDir = "/run/netns"
		if o.Root != DefaultRoot {
			o.NetnsDir = filepath.Join(o.Root, "netns")
		}
	}
	o.BPFFS, o.NetnsDir = filepath.Clean(o.BPFFS), filepath.Clean(o.NetnsDir)
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// Instance is an opened instance: locked, with its store and datapath.
// Every command opens one, works, and closes it.
type Instance struct {
	opts     Options
	readOnly bool
	lock     *os.File
	store    store.Store
	dp       Datapath // nil in a read-only instance until a reader needs it
	machine  Machine
	host     *hostNS // the kernel machine's host namespace
	drivers  *driver.Registry
	state    *State
	// loadedAll: state.Containers holds every container, not only those
	// read so far.
	loadedAll bool
	fault     *faults
	pending   *Intent // this command's journal entry
	// interrupted is the intent an interrupted command left, as found by a
	// read-only open (a mutating open rolls it back).
	interrupted *Intent
	rolledBack  []string // what rolling it back found and fixed
	hostSynced  bool     // SyncHost ran in this command (hostInLine)
}

// Open locks the instance for a command that changes it, loads its store
// and datapath, rolls back a command that was interrupted, creates the
// predefined networks on first use, brings the host-wide datapath in line
// with the host's devices and rebuilds the kernel state if it was lost (a
// reboot).
func Open(opts Options) (*Instance, error) { return open(opts, false) }

// OpenReadOnly opens the instance for a command that only reads it (ls,
// inspect, port, stats, conntrack ls, system check): a shared lock, the
// store opened read-only, nothing written to the kernel or the disk, so it
// works on a read-only root. The first command of a new instance creates
// it, read-only or not.
func OpenReadOnly(opts Options) (*Instance, error) {
	opts = opts.withDefaults()
	if st, err := os.Stat(storePath(opts)); opts.Store == nil && (err != nil || st.Size() == 0) {
		return open(opts, false)
	}
	return open(opts, true)
}

func storePath(o Options) string { return filepath.Join(o.Root, "bpfnet.db") }

func open(opts Options, readOnly bool) (*Instance, error) {
	opts = opts.withDefaults()
	if err := checkSizes(opts.Sizes); err != nil {
		return nil, err
	}
	if err := prepareRoot(opts.Root, !readOnly); err != nil {
		return nil, err
	}
	lock, err := openLock(opts.Root, readOnly)
	if err != nil {
		return nil, err
	}
	in := &Instance{opts: opts, lock: lock, readOnly: readOnly}
	if in.fault, err = parseFault(opts.Fault, opts.Stderr); err != nil {
		in.Close()
		return nil, err
	}
	if err := in.open(); err != nil {
		in.Close()
		if readOnly && errors.Is(err, boltstore.ErrNeedsWrite) {
			// An older bpfnet's store: the upgrade is a write, once.
			return open(opts, false)
		}
		return nil, err
	}
	return in, nil
}

// openLock takes the instance's lock: exclusive for a command that
// changes the instance, shared for readers. The lock file is never
// removed, not even by reset, so every command locks the same inode.
func openLock(root string, shared bool) (*os.File, error) {
	path := filepath.Join(root, "lock")
	flags := os.O_CREATE | os.O_RDWR | unix.O_NOFOLLOW
	if shared {
		flags = os.O_RDONLY | unix.O_NOFOLLOW
	}
	lock, err := os.OpenFile(path, flags, 0o600)
	if shared && errors.Is(err, os.ErrNotExist) {
		lock, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock of %s: %w", root, err)
	}
	if err := checkTrusted(path, lock); err != nil {
		lock.Close()
		return nil, err
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	// One changing command at a time per instance: the lock covers the
	// store and the kernel changes derived from it.
	if err := unix.Flock(int(lock.Fd()), how); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock %s: %w", root, err)
	}
	return lock, nil
}

func (in *Instance) open() (err error) {
	if err := in.openMachine(); err != nil {
		return err
	}
	if err := in.openStore(); err != nil {
		return err
	}
	in.interrupted, err = readJournal(in.journalPath())
	if err != nil {
		return err
	}
	if in.readOnly {
		if in.opts.Sizes.ConntrackEntries == 0 {
			return nil
		}
		if _, err := in.datapath(); err != nil {
			return nil // no maps pinned: nothing to disagree with
		}
		return in.checkPinnedSizes()
	}
	if in.dp, err = in.machine.OpenDatapath(in.opts.BPFFS, in.opts.Attach, in.opts.Sizes); err != nil {
		return err
	}
	if err := in.checkPinnedSizes(); err != nil {
		return err
	}
	if in.interrupted != nil && !in.dp.Fresh() {
		if err := in.rollBack(in.interrupted); err != nil {
			return err
		}
	}
	if err := in.ensurePredefined(); err != nil {
		return err
	}
	// The host is brought in line by the command's first change (begin);
	// a rebuild or a roll back needs it first.
	if in.dp.Fresh() || in.interrupted != nil {
		if err := in.hostInLine(); err != nil {
			return err
		}
	}
	if !in.dp.Fresh() {
		return in.reloadIfUpgraded()
	}
	// Gateways went with a reboot too, even where no container is left.
	hasContainers, err := in.store.HasContainers()
	if err != nil {
		return err
	}
	if hasContainers {
		fmt.Fprintln(in.opts.Stderr, "bpfnet: the datapath was gone (a reboot?): rebuilding it from the store")
	}
	problems, err := in.reconcile(true)
	if err != nil {
		return fmt.Errorf("rebuild after reboot: %w", err)
	}
	for _, p := range problems {
		if hasContainers {
			fmt.Fprintln(in.opts.Stderr, "bpfnet:", p)
		}
	}
	// A reboot took whatever an interrupted command had made.
	if in.interrupted != nil {
		in.pending = in.interrupted
		in.end()
	}
	// Every program now running was loaded by this build.
	return in.recordDatapath()
}

// hostInLine brings the host-wide datapath in line with the host's
// devices (Machine.SyncHost), once per command: devices appear and change
// behind bpfnet's back, so every command that changes the instance looks
// again before its first change (begin). Publish too: a port answers
// through every uplink, and one added since the last command has no
// program until a command looks.
func (in *Instance) hostInLine() error {
	if in.hostSynced {
		return nil
	}
	if in.readOnly {
		return fmt.Errorf("internal error: a read-only command tried to change the host")
	}
	if err := in.machine.SyncHost(); err != nil {
		return err
	}
	in.hostSynced = true
	return nil
}

// openMachine opens the machine the options give, or the kernel's host
// namespace, and the drivers that act on it.
func (in *Instance) openMachine() (err error) {
	in.machine, in.drivers = in.opts.Machine, in.opts.Drivers
	if in.machine != nil {
		if in.drivers == nil {
			return fmt.Errorf("internal error: a machine given without its drivers")
		}
		return nil
	}
	if in.drivers == nil {
		in.drivers = driver.Default()
	}
	if in.host, err = openHostNS(in.opts.HostNetns); err != nil {
		return err
	}
	in.machine = kernelMachine{in}
	return nil
}

// datapath is the instance's datapath; a read-only instance opens the
// pinned maps on first use, and has none when they are not pinned.
func (in *Instance) datapath() (Datapath, error) {
	if in.dp != nil {
		return in.dp, nil
	}
	dp, err := in.machine.OpenPinnedDatapath(in.opts.BPFFS)
	if err != nil {
		return nil, err
	}
	in.dp = dp
	return dp, nil
}

// Close releases the store, the datapath's descriptors and the lock.
func (in *Instance) Close() {
	if in.dp != nil {
		in.dp.Close()
		in.dp = nil
	}
	in.closeStore()
	if in.host != nil {
		in.host.Close()
		in.host = nil
	}
	if in.lock != nil {
		in.lock.Close() // closing the descriptor releases the flock
		in.lock = nil
	}
}

// closeStore closes the store Open opened; a given one stays open.
func (in *Instance) closeStore() {
	if in.store != nil && in.opts.Store == nil {
		in.store.Close()
	}
	in.store = nil
}

// Network returns the network with ID id (nil if there is none).
func (in *Instance) NetworkByID(id string) *Network { return in.state.Networks[id] }

// allContainers reads every container once per command; containers read
// before keep their identity.
func (in *Instance) allContainers() (map[string]*Container, error) {
	if in.loadedAll {
		return in.state.Containers, nil
	}
	all, err := in.store.Containers()
	if err != nil {
		return nil, err
	}
	for id, c := range all {
		if _, ok := in.state.Containers[id]; ok {
			continue
		}
		if err := in.checkReferences(c); err != nil {
			return nil, err
		}
		in.state.Containers[id] = c
	}
	in.loadedAll = true
	return in.state.Containers, nil
}

// step is a point of a command where the fault hook may end it.
func (in *Instance) step(what string) error { return in.fault.step(what) }

// commit writes ch, applies it to the in-memory state and ends the
// command's journal entry: from here the store holds its effect.
func (in *Instance) commit(ch store.Change) error {
	if in.readOnly {
		return fmt.Errorf("internal error: a read-only command tried to change the store")
	}
	if err := in.step("store: commit"); err != nil {
		return err
	}
	if err := in.store.Apply(ch); err != nil {
		return err
	}
	in.end()
	for _, n := range ch.PutNetworks {
		in.state.Networks[n.ID] = n
	}
	for _, id := range ch.DeleteNetworks {
		delete(in.state.Networks, id)
	}
	for _, c := range ch.PutContainers {
		in.state.Containers[c.ID] = c
	}
	for _, id := range ch.DeleteContainers {
		delete(in.state.Containers, id)
	}
	if len(ch.AddPorts) > 0 || len(ch.RemovePorts) > 0 || len(ch.DeleteContainers) > 0 {
		// Committed: a failure here must not undo the change; the next
		// command's open retries.
		if err := in.syncUDPSockets(); err != nil {
			fmt.Fprintf(in.opts.Stderr, "bpfnet: warning: UDP socket programs: %v\n", err)
		}
	}
	return nil
}
