package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// An instance's root holds what root acts on: the store names namespace
// files to unmount and devices to delete. Like sshd's StrictModes, bpfnet
// refuses a root, store or lock that someone else could have written.

// prepareRoot checks the root directory and its parents, creating the
// root when create is set and it does not exist.
func prepareRoot(root string, create bool) error {
	if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) && create {
		if err := checkParentsTrusted(root); err != nil {
			return err
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("create root %s: %w", root, err)
		}
	}
	if err := checkTrusted(root, nil); err != nil {
		return err
	}
	return checkParentsTrusted(root)
}

// checkTrusted refuses path (f, when open, is checked instead of a new
// lookup) unless bpfnet's user owns it and neither group nor others may
// write it.
func checkTrusted(path string, f *os.File) error {
	var fi os.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
	} else {
		fi, err = os.Stat(path)
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check %s: no owner information", path)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refusing to use %s: it is owned by uid %d, not %d (bpfnet's user)", path, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to use %s: it is writable by group or others (mode %#o)", path, fi.Mode().Perm())
	}
	return nil
}

// checkParentsTrusted refuses a root whose parent directories another
// user could rename it in: each must be owned by root or bpfnet's user
// and not writable by others unless sticky (as /tmp).
func checkParentsTrusted(root string) error {
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		if err := checkParentTrusted(root, dir); err != nil {
			return err
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

func checkParentTrusted(root, dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // MkdirAll makes it, as root's, below a parent checked here
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refusing to use %s: its parent %s is owned by uid %d", root, dir, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("refusing to use %s: its parent %s is writable by group or others (mode %#o)", root, dir, fi.Mode().Perm())
	}
	return nil
}

// ownNetnsPath refuses to act on a namespace file the store names unless
// it lies directly in the instance's namespace directory: a store is data,
// and must not make bpfnet unmount or delete anything else.
func (in *Instance) ownNetnsPath(path string) error {
	if filepath.Clean(path) != path || filepath.Dir(path) != in.opts.NetnsDir || filepath.Base(path) == "." {
		return fmt.Errorf("namespace path %q lies outside the instance's namespace directory %s: refusing to unmount or remove it", path, in.opts.NetnsDir)
	}
	return nil
}
