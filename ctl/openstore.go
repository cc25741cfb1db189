package ctl

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bpfnet/bpfnet/store"
	"github.com/bpfnet/bpfnet/store/boltstore"
)

// ErrStoreLost marks a store that is missing or empty while the kernel or
// a backup shows the instance existed: starting afresh would forget
// containers and ports that still work.
var ErrStoreLost = errors.New("store lost")

// openStore opens and loads the store, restoring it from its backup when
// the options allow and it is damaged or lost.
func (in *Instance) openStore() (err error) {
	if in.opts.Store != nil {
		in.store = in.opts.Store
		in.state, err = in.store.Load()
		return err
	}
	path := storePath(in.opts)
	lost := false
	if st, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || (err == nil && st.Size() == 0) {
		_, bakErr := os.Stat(boltstore.BackupPath(path))
		lost = in.machine.DatapathPinned(in.opts.BPFFS) || bakErr == nil
	} else if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	} else if err := checkTrusted(path, nil); err != nil {
		return err
	}
	if lost {
		if err := in.recoverStore(fmt.Errorf("store %s is missing or empty, but the instance still exists (its datapath is pinned in %s, or the store's backup remains): run 'bpfnet system repair' to restore it from its backup %s, or 'bpfnet system reset' to remove the instance: %w",
			path, in.opts.BPFFS, boltstore.BackupPath(path), ErrStoreLost)); err != nil {
			return err
		}
	}
	err = in.loadStore(path)
	if errors.Is(err, store.ErrDamaged) {
		if err := in.recoverStore(err); err != nil {
			return err
		}
		err = in.loadStore(path)
	}
	return err
}

func (in *Instance) loadStore(path string) (err error) {
	in.closeStore()
	// A nil *boltstore.Store must not become a non-nil store.Store.
	var st *boltstore.Store
	if in.readOnly {
		st, err = boltstore.OpenReadOnly(path)
	} else {
		st, err = boltstore.Open(path)
	}
	if err != nil {
		return err
	}
	in.store = st
	in.state, err = in.store.Load()
	in.loadedAll = false
	return err
}

// recoverStore handles a damaged or lost store (why) as the options say:
// restore it from the backup (repair), set it aside and start empty
// (reset), or fail with why.
func (in *Instance) recoverStore(why error) error {
	path := storePath(in.opts)
	switch {
	case in.opts.RestoreStore && !in.readOnly:
		if err := boltstore.Restore(path); err != nil {
			if in.opts.Discard {
				return in.discardStore(path)
			}
			return fmt.Errorf("%w; and restoring failed: %w ('bpfnet system reset' removes the instance)", why, err)
		}
		fmt.Fprintf(in.opts.Stderr, "bpfnet: restored the store %s from its backup\n", path)
		return nil
	case in.opts.Discard && !in.readOnly:
		return in.discardStore(path)
	}
	return why
}

// discardStore moves a damaged store aside so that a fresh one replaces it.
func (in *Instance) discardStore(path string) error {
	in.closeStore()
	aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("move damaged store aside: %w", err)
	}
	return nil
}

// damaged is the error for the instance's store, damaged as err says.
func (in *Instance) damaged(err error) error {
	return &store.DamagedError{Path: in.store.Path(), Backup: boltstore.BackupPath(in.store.Path()), Err: err}
}
