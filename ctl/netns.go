package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostNS is the instance's host network namespace, held open for the
// command's lifetime.
type hostNS struct {
	handle netns.NsHandle
}

// openHostNS opens the namespace at path, or the caller's when path is "".
func openHostNS(path string) (*hostNS, error) {
	var h netns.NsHandle
	var err error
	if path == "" {
		h, err = netns.Get()
	} else {
		h, err = netns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open host network namespace %q: %w", path, err)
	}
	return &hostNS{handle: h}, nil
}

func (h *hostNS) Close() { h.handle.Close() }

// inNetns runs fn on an OS thread switched into ns. Netlink sockets, tcx
// attach and /proc/sys/net writes made by fn act in ns. fn must not start
// goroutines that expect to be in ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so the runtime retires it rather than
		// reusing a thread in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("return to original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// inNetnsPath is inNetns for a namespace file.
func inNetnsPath(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return inNetns(ns, fn)
}

func (in *Instance) inHost(fn func() error) error { return inNetns(in.host.handle, fn) }

// createNamedNetns makes a network namespace bound at dir/name, as
// `ip netns add` does, and runs setup inside it.
func createNamedNetns(dir, name string, setup func() error) (path string, err error) {
	path = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create namespace directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return "", fmt.Errorf("create network namespace %s: %w", path, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			deleteNamedNetns(path)
		}
	}()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("create network namespace %s: %w", path, err)
	}
	err = unix.Mount(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()), path, "none", unix.MS_BIND, "")
	if err != nil {
		err = fmt.Errorf("bind network namespace to %s: %w", path, err)
	} else {
		err = setup()
	}
	if serr := netns.Set(orig); serr != nil {
		return "", errors.Join(err, fmt.Errorf("return to original network namespace: %w", serr))
	}
	runtime.UnlockOSThread()
	return path, err
}

// deleteNamedNetns unbinds and removes a namespace made by createNamedNetns.
// The namespace dies when its last process or interface reference goes.
func deleteNamedNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

// isNetns is true when path is a live network namespace (after a reboot
// the file of a named namespace may remain, unmounted).
func isNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// writeSysctl sets a /proc/sys value in the calling thread's network
// namespace (net.* entries are per namespace).
func writeSysctl(name, value string) error {
	path := filepath.Join("/proc/sys", filepath.FromSlash(name))
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
