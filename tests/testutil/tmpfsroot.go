package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TmpfsInstance is an instance whose root directory lies on a tmpfs of
// its own, small enough to fill, and that can be made read-only.
type TmpfsInstance struct {
	*Instance
	Mount string // the tmpfs; Root is Mount/root
	size  string
}

// NewTmpfsInstance is NewInstance with ROOT on a new tmpfs of size (as
// mount(8) takes it: "4m"). The tmpfs is unmounted after the instance's
// own cleanup has reset it, and mounts a reset left below it fail the test.
func NewTmpfsInstance(t testing.TB, attach, size string) *TmpfsInstance {
	t.Helper()
	RequireRoot(t)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", mnt, err)
	}
	// Registered before the instance's cleanup, so it runs after it.
	t.Cleanup(func() {
		mounts, err := MountsBelow(mnt)
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, m := range mounts {
			t.Errorf("cleanup: system reset left mount %s", m)
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("cleanup: unmount the tmpfs %s: %v", mnt, err)
		}
	})
	in := NewInstance(t, attach)
	in.Root = filepath.Join(mnt, "root")
	return &TmpfsInstance{Instance: in, Mount: mnt, size: size}
}

// Fill writes the file Mount/fill until the tmpfs has no space left.
func (in *TmpfsInstance) Fill() error {
	f, err := os.Create(filepath.Join(in.Mount, "fill"))
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				break
			}
			return fmt.Errorf("fill %s: %w", in.Mount, err)
		}
	}
	// The last blocks too: a write of a single byte must fail.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", in.Mount, err)
		}
	}
}

// Free removes what Fill wrote.
func (in *TmpfsInstance) Free() error { return os.Remove(filepath.Join(in.Mount, "fill")) }

// SetReadOnly remounts the tmpfs read-only (true) or read-write (false).
func (in *TmpfsInstance) SetReadOnly(ro bool) error {
	flags := uintptr(unix.MS_REMOUNT)
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("tmpfs", in.Mount, "tmpfs", flags, "size="+in.size+",mode=0700"); err != nil {
		return fmt.Errorf("remount %s (read-only %v): %w", in.Mount, ro, err)
	}
	return nil
}
