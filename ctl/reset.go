package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/store/boltstore"
)

// Reset opens the instance whatever state its store is in (restored from
// the backup, or set aside when damaged beyond that) and removes
// everything it made.
func Reset(opts Options) error {
	opts.RestoreStore, opts.Discard = true, true
	in, err := Open(opts)
	if err != nil {
		return err
	}
	return in.Reset()
}

// Reset removes everything the instance made: containers' namespaces and
// veths (those the store names and those its marks identify), gateway
// addresses, uplink programs, pins, the store, its backup and the journal.
// The lock stays, so commands waiting on it lock the same file. The
// instance is closed.
func (in *Instance) Reset() error {
	defer in.Close()
	if err := in.begin(Intent{Op: "system reset"}); err != nil {
		return err
	}
	var errs []error
	all, err := in.Containers()
	if err != nil {
		return err
	}
	for _, c := range all {
		errs = append(errs, in.resetContainer(c))
	}
	errs = append(errs, in.inHost(func() error {
		if err := in.removeMarkedVeths(); err != nil {
			return err
		}
		uplinks, err := in.dp.Uplinks()
		if err != nil {
			return err
		}
		for index := range uplinks {
			if err := in.dp.DetachUplink(index); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, d := range driver.All() {
		if hs, ok := d.(driver.HostState); ok {
			errs = append(errs, hs.RemoveAll(in.env()))
		}
	}
	errs = append(errs, in.removeOwnNetnsDir())
	errs = append(errs, in.dp.Remove())
	in.dp = nil
	in.unmountCgroup2()
	in.store.Close()
	in.store = nil
	path := storePath(in.opts)
	aside, _ := filepath.Glob(path + ".damaged-*")
	// Backup first, journal last: a reset killed before the store goes is
	// rolled back (the next command rebuilds from the store); after, it is
	// complete (nothing is left to rebuild from).
	for _, p := range append([]string{boltstore.BackupPath(path), path, in.journalPath()}, aside...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	in.pending = nil
	return errors.Join(errs...)
}

// resetContainer removes c's veths and the namespace bpfnet made for it;
// the maps go with the pins.
func (in *Instance) resetContainer(c *Container) error {
	err := in.inHost(func() error {
		for _, ep := range c.Endpoints {
			if l, err := netlink.LinkByName(in.hostDevice(ep)); err == nil {
				if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
					return fmt.Errorf("delete veth %s of container %s: %w", in.hostDevice(ep), c.Name, err)
				}
			}
		}
		return nil
	})
	if err != nil || c.Netns == "" || c.Adopted {
		return err
	}
	if err := in.ownNetnsPath(c.Netns); err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	return kernel.DeleteNetns(c.Netns)
}

// removeMarkedVeths deletes the host-side veths that carry this
// instance's mark. Call in the host namespace.
func (in *Instance) removeMarkedVeths() error {
	links, err := kernel.LinkList()
	if err != nil {
		return fmt.Errorf("list host devices: %w", err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, in.aliasPrefix()) {
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("delete veth %s: %w", l.Attrs().Name, err)
			}
		}
	}
	return nil
}

// removeOwnNetnsDir empties and removes a namespace directory that is the
// instance's own (below its root); /run/netns is everyone's.
func (in *Instance) removeOwnNetnsDir() error {
	dir := in.opts.NetnsDir
	if !strings.HasPrefix(dir, in.opts.Root+string(filepath.Separator)) {
		return nil
	}
	files, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list namespace directory %s: %w", dir, err)
	}
	var errs []error
	for _, f := range files {
		errs = append(errs, kernel.DeleteNetns(filepath.Join(dir, f.Name())))
	}
	errs = append(errs, os.Remove(dir))
	return errors.Join(errs...)
}
