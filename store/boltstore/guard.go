package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/bpfnet/bpfnet/store"
	bolt "go.etcd.io/bbolt"
)

// guard runs fn, which reads or writes the bbolt file at path, turning a
// panic into a DamagedError: bbolt panics on pages it cannot make sense of,
// and a file truncated under its mmap faults, which SetPanicOnFault makes
// a panic of this goroutine rather than the end of the process.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Errorf("reading it failed: %v", r))
		}
	}()
	return fn()
}

// openError classifies what bolt.Open returned.
func openError(path string, err error) error {
	var d *store.DamagedError
	switch {
	case errors.As(err, &d):
		return err
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch):
		return damaged(path, err)
	case errors.Is(err, bolt.ErrTimeout):
		return fmt.Errorf("open store %s: another process holds it: %w", path, err)
	}
	// A system call's failure (no such file, no space, read-only, denied)
	// says nothing of the content; bbolt's own complaints do ("file size
	// too small" has no error value of its own).
	var errno syscall.Errno
	var pathErr *os.PathError
	if errors.As(err, &errno) || errors.As(err, &pathErr) {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	return damaged(path, err)
}

func (s *Store) damaged(err error) error { return damaged(s.path, err) }

// damaged is the error for the store at path, damaged as err says.
func damaged(path string, err error) error {
	return &store.DamagedError{Path: path, Backup: BackupPath(path), Err: err}
}

// view is a guarded read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update is a guarded write transaction that also counts the store's
// generation and then repeats fn on the backup (backup.go). fn must be
// deterministic: the backup must end up holding what the store holds.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("write store %s: opened read-only", s.path)
	}
	var gen uint64
	err := guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			gen = generation(tx) + 1
			return setGeneration(tx, gen)
		})
	})
	if err != nil {
		return err
	}
	s.mirror(fn, gen)
	return nil
}

// The generation counts the store's commits. The backup is written after
// the store, so it is never ahead: if it is, the store lost commits (bbolt
// fell back to an older meta page after damage to the newer one).
var keyGeneration = []byte("generation")

func generation(tx *bolt.Tx) uint64 {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0
	}
	if v := meta.Get(keyGeneration); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func setGeneration(tx *bolt.Tx, gen uint64) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keyGeneration, binary.BigEndian.AppendUint64(nil, gen))
}

// Generation is the number of commits the store has seen.
func (s *Store) Generation() (uint64, error) {
	var gen uint64
	err := s.view(func(tx *bolt.Tx) error { gen = generation(tx); return nil })
	return gen, err
}

// Verify walks every page of the store (bbolt's consistency check) and
// decodes every record: what `system check` and `repair` do, O(size).
func (s *Store) Verify() error {
	// Every key of every bucket, read in this goroutine, where a damaged
	// page panics into guard: bbolt's own tx.Check walks the pages in a
	// goroutine of its own, where a fault would end the process.
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b) })
	})
	if err != nil {
		return err
	}
	if _, err := s.Load(); err != nil {
		return err
	}
	_, err = s.Containers()
	return err
}

func walkBucket(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walkBucket(nested)
			}
		}
		return nil
	})
}
