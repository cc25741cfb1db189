package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into ns, then switches the thread
// back. Netlink sockets, tcx attaches, /proc/sys/net writes and sockets
// that fn makes act in ns (sockets stay there and may be used from any
// goroutine afterwards). fn must not start goroutines that expect to be in
// ns.
func Do(ns netns.NsHandle, fn func() error) error {
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
		// The thread stays locked, so the runtime retires it with the
		// goroutine rather than reuse a thread in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("return to original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// DoPath is Do for the namespace bound at path.
func DoPath(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return Do(ns, fn)
}

// Handle is a netlink handle acting in the namespace at path.
func Handle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return h, nil
}

// CreateNetns makes a new network namespace bound at path, which must not
// exist yet, as `ip netns add` does, and runs setup inside it (nil: none).
// On error nothing stays.
func CreateNetns(path string, setup func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it dies with the goroutine, so no
		// other goroutine ever runs in the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("bind to %s: %w", path, err)
			return
		}
		if setup != nil {
			done <- setup()
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		_ = DeleteNetns(path)
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	return nil
}

// DeleteNetns unbinds and removes a namespace file; a missing one is fine.
// The namespace dies, with its links, once nothing else holds it.
func DeleteNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

// IsNetns is true when path is a live network namespace (after a reboot
// the file of a named namespace may remain, unmounted).
func IsNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// SameFile is true when a and b name the same inode (for namespaces: the
// same namespace).
func SameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// SetLinkUp brings up the link name of the calling thread's namespace.
func SetLinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}
