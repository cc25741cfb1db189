package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/bpfnet/bpfnet/kernel"
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

func (in *Instance) inHost(fn func() error) error { return in.machine.InHost(fn) }

// isNetns tells whether path is a live namespace.
func (in *Instance) isNetns(path string) bool { return in.machine.NetnsAt(path) == BoundNetns }

// CreateNetns makes a network namespace bound at path, as `ip netns add`
// does.
func (kernelMachine) CreateNetns(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create namespace directory %s: %w", dir, err)
	}
	return kernel.CreateNetns(path, setupContainerNetns)
}

// setupContainerNetns runs inside a new container namespace: loopback up.
// As in Docker, lo keeps ::1 and the container's interfaces get no IPv6
// address (the driver sees to them).
func setupContainerNetns() error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

func (kernelMachine) DeleteNetns(path string) error { return kernel.DeleteNetns(path) }

func (kernelMachine) NetnsAt(path string) NetnsFile {
	if kernel.IsNetns(path) {
		return BoundNetns
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return NoFile
	case err == nil && st.Mode().IsRegular() && st.Size() == 0:
		return UnboundFile
	}
	return OtherFile
}

func (kernelMachine) NetnsFiles(dir string) ([]string, error) {
	files, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespace directory %s: %w", dir, err)
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name())
	}
	return names, nil
}

func (kernelMachine) SameNetns(a, b string) bool { return kernel.SameFile(a, b) }

func (kernelMachine) RestoreDefaultRoute(path string, via []Gateway) error {
	return kernel.DoPath(path, func() error {
		if kernel.HasDefaultRoute() {
			return nil
		}
		for _, g := range via {
			link, err := netlink.LinkByName(g.Device)
			if err != nil {
				continue
			}
			return kernel.AddDefaultRoute(link, g.IP)
		}
		return nil
	})
}
