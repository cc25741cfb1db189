package ctl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/loader"
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
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = DefaultRoot
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
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// Instance is an opened instance: locked, with its store and datapath.
// Every command opens one, works, and closes it.
type Instance struct {
	opts  Options
	lock  *os.File
	store *Store
	dp    *loader.Datapath
	host  *hostNS
	state *State
	fault *faults
}

// Open locks the instance, loads its store and datapath, creates the
// predefined networks on first use and rebuilds the kernel state if it was
// lost (a reboot).
func Open(opts Options) (*Instance, error) {
	opts = opts.withDefaults()
	if err := checkSizes(opts.Sizes); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create root %s: %w", opts.Root, err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock of %s: %w", opts.Root, err)
	}
	// One command at a time per instance: the lock covers the store and the
	// kernel changes derived from it.
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock %s: %w", opts.Root, err)
	}
	in := &Instance{opts: opts, lock: lock}
	if in.fault, err = parseFault(opts.Fault, opts.Stderr); err != nil {
		in.Close()
		return nil, err
	}
	if err := in.open(); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

func (in *Instance) open() (err error) {
	if in.host, err = openHostNS(in.opts.HostNetns); err != nil {
		return err
	}
	if in.store, err = openStore(filepath.Join(in.opts.Root, "bpfnet.db")); err != nil {
		return err
	}
	if in.state, err = in.store.Load(); err != nil {
		return err
	}
	if in.dp, err = loader.OpenSized(in.opts.BPFFS, in.opts.Attach, in.opts.Sizes); err != nil {
		return err
	}
	if err := in.checkPinnedSizes(); err != nil {
		return err
	}
	if err := in.ensurePredefined(); err != nil {
		return err
	}
	if err := in.syncHost(); err != nil {
		return err
	}
	if !in.dp.Fresh() {
		return in.reloadIfUpgraded()
	}
	// Gateways went with a reboot too, even where no container is left.
	if len(in.state.Containers) > 0 {
		fmt.Fprintln(in.opts.Stderr, "bpfnet: the datapath was gone (a reboot?): rebuilding it from the store")
	}
	problems, err := in.reconcile(true)
	if err != nil {
		return fmt.Errorf("rebuild after reboot: %w", err)
	}
	for _, p := range problems {
		if len(in.state.Containers) > 0 {
			fmt.Fprintln(in.opts.Stderr, "bpfnet:", p)
		}
	}
	// Every program now running was loaded by this build.
	return in.recordDatapath()
}

// OpenReadOnly opens the instance for commands that only read it (ls,
// inspect, port, stats, conntrack ls, system check).
func OpenReadOnly(opts Options) (*Instance, error) { return Open(opts) }

// Close releases the store, the datapath's descriptors and the lock.
func (in *Instance) Close() {
	if in.dp != nil {
		in.dp.Close()
	}
	if in.store != nil {
		in.store.Close()
	}
	if in.host != nil {
		in.host.Close()
	}
	in.lock.Close() // closing the descriptor releases the flock
}

// State is the store's content as of the last change.
func (in *Instance) State() *State { return in.state }

// commit writes ch and applies it to the in-memory state.
func (in *Instance) commit(ch Change) error {
	if err := in.store.Apply(ch); err != nil {
		return err
	}
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
	return nil
}
