package boltstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The backup is a second bbolt file beside the store, written after each
// of the store's commits with the same change, so `system repair` can
// bring back networks, containers and ports when the store is damaged,
// truncated or deleted. It is written without fsync: the store itself is
// durable, and the backup only has to survive what can befall the store
// afterwards.
// BackupPath is where the backup of the store at path lives.
func BackupPath(path string) string { return path + ".bak" }

// backupWarnings receives notices of a backup that could not be written;
// the command itself succeeded, and the next one rewrites the backup.
var backupWarnings io.Writer = os.Stderr

// mirror repeats fn, the change that made generation gen, on the backup;
// a backup that is missing, damaged or not at generation gen-1 is copied
// whole from the store instead.
func (s *Store) mirror(fn func(*bolt.Tx) error, gen uint64) {
	path := BackupPath(s.path)
	errStale := errors.New("stale")
	err := guard(path, func() error {
		db, err := s.openBackup()
		if err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error {
			if generation(tx) != gen-1 {
				return errStale
			}
			if err := fn(tx); err != nil {
				return err
			}
			return setGeneration(tx, gen)
		})
	})
	if err == nil {
		return
	}
	s.closeBackup()
	if err := s.copyToBackup(); err != nil {
		fmt.Fprintf(backupWarnings, "bpfnet: warning: the store's backup %s was not written: %v\n", path, err)
	}
}

// openBackup opens the backup once per Store, for reading and, in a store
// that writes, for mirroring its commits. A missing backup is not created
// here: an empty one would look like a sound backup of nothing, so only
// copyToBackup makes one, from the whole store.
func (s *Store) openBackup() (*bolt.DB, error) {
	if s.backup != nil {
		return s.backup, nil
	}
	path := BackupPath(s.path)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, ReadOnly: s.readOnly})
	if err != nil {
		return nil, err
	}
	s.backup = db
	return db, nil
}

// closeBackup drops the open backup: it is about to be replaced, was
// found damaged or stale, or the store closes.
func (s *Store) closeBackup() {
	if s.backup != nil {
		_ = guard(BackupPath(s.path), s.backup.Close)
		s.backup = nil
	}
}

// copyToBackup replaces the backup with a copy of the store, once the
// store has passed a full check: a backup must never be replaced by damage
// that no read has tripped over yet.
func (s *Store) copyToBackup() error {
	path := BackupPath(s.path)
	if err := s.Verify(); err != nil {
		return fmt.Errorf("the store fails its check, so its backup stays as it is: %w", err)
	}
	tmp := path + ".tmp"
	err := s.view(func(tx *bolt.Tx) error { return tx.CopyFile(tmp, 0o600) })
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("copy store to %s: %w", path, err)
	}
	return nil
}

// checkBehindBackup fails when the backup has seen more commits than the
// store: the store was rolled back by damage. A missing or unreadable
// backup tells nothing.
func (s *Store) checkBehindBackup() error {
	gen, err := s.Generation()
	if err != nil {
		return err
	}
	var bgen uint64
	err = guard(BackupPath(s.path), func() error {
		db, err := s.openBackup()
		if err != nil {
			return err
		}
		return db.View(func(tx *bolt.Tx) error { bgen = generation(tx); return nil })
	})
	if err != nil {
		s.closeBackup()
	}
	if err == nil && bgen > gen {
		return s.damaged(fmt.Errorf("it holds %d commits, its backup %d: it lost the latest", gen, bgen))
	}
	return nil
}

// Restore replaces the store at path with its backup, after checking
// that the backup is sound; the damaged store, if any, is kept beside it
// for inspection. The instance lock must be held.
func Restore(path string) error {
	bak := BackupPath(path)
	b, err := OpenReadOnly(bak)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore store %s: no backup %s", path, bak)
		}
		return fmt.Errorf("restore store %s from %s: %w", path, bak, err)
	}
	defer b.Close()
	if err := b.Verify(); err != nil {
		return fmt.Errorf("restore store %s: its backup is damaged too: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("move damaged store aside: %w", err)
		}
	}
	tmp := path + ".tmp"
	err = b.view(func(tx *bolt.Tx) error { return tx.CopyFile(tmp, 0o600) })
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncFile(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore store %s from %s: %w", path, bak, err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
