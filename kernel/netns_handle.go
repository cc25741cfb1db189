package kernel

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewNetnsHandle makes an anonymous network namespace, bound nowhere, and
// returns a handle to it for Do; the caller closes the handle. The
// namespace lives while the handle, a socket made in it or a link moved
// into it holds it: tests and checks that need a throwaway namespace and no
// file to clean up use it. Only lo exists in it, down.
func NewNetnsHandle() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it dies with the goroutine, so no
		// other goroutine ever runs in the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		ns, err := netns.Get()
		done <- result{ns, err}
	}()
	r := <-done
	if r.err != nil {
		return netns.None(), fmt.Errorf("create network namespace: %w", r.err)
	}
	return r.ns, nil
}
