package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/store"
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
	errs = append(errs, in.removeMarkedVeths(), in.machine.ResetHost())
	for _, d := range in.drivers.All() {
		if hs, ok := d.(driver.HostState); ok {
			errs = append(errs, hs.RemoveAll(in.env()))
		}
	}
	errs = append(errs, in.removeOwnNetnsDir())
	errs = append(errs, in.dp.Remove())
	in.dp = nil
	if in.opts.Store != nil {
		errs = append(errs, in.forgetAll()) // a given store stays: empty it
	}
	in.closeStore()
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
	for _, ep := range c.Endpoints {
		if _, err := in.machine.DeleteLink(in.hostDevice(ep)); err != nil {
			return fmt.Errorf("delete veth %s of container %s: %w", in.hostDevice(ep), c.Name, err)
		}
	}
	if c.Netns == "" || c.Adopted {
		return nil
	}
	if err := in.ownNetnsPath(c.Netns); err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	return in.machine.DeleteNetns(c.Netns)
}

// removeMarkedVeths deletes the host-side veths that carry this
// instance's mark.
func (in *Instance) removeMarkedVeths() error {
	names, err := in.machine.MarkedLinks(in.aliasPrefix())
	if err != nil {
		return fmt.Errorf("list host devices: %w", err)
	}
	for _, name := range names {
		if _, err := in.machine.DeleteLink(name); err != nil {
			return fmt.Errorf("delete veth %s: %w", name, err)
		}
	}
	return nil
}

// resetHostPrograms detaches the uplinks' programs and undoes the cgroup
// mount the socket programs may have needed.
func (in *Instance) resetHostPrograms() error {
	err := in.inHost(func() error {
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
	})
	in.unmountCgroup2()
	return err
}

// forgetAll deletes every record of a store the instance was given.
func (in *Instance) forgetAll() error {
	all, err := in.store.Containers()
	if err != nil {
		return err
	}
	var ch store.Change
	for id := range all {
		ch.DeleteContainers = append(ch.DeleteContainers, id)
	}
	for id := range in.state.Networks {
		ch.DeleteNetworks = append(ch.DeleteNetworks, id)
	}
	return in.store.Apply(ch)
}

// removeOwnNetnsDir empties and removes a namespace directory that is the
// instance's own (below its root); /run/netns is everyone's.
func (in *Instance) removeOwnNetnsDir() error {
	dir := in.opts.NetnsDir
	if !strings.HasPrefix(dir, in.opts.Root+string(filepath.Separator)) {
		return nil
	}
	files, err := in.machine.NetnsFiles(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		errs = append(errs, in.machine.DeleteNetns(filepath.Join(dir, f)))
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
