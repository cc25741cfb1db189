package ctl

import (
	"fmt"
	"os"
	"path/filepath"

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

func (in *Instance) inHost(fn func() error) error { return kernel.Do(in.host.handle, fn) }

// createNamedNetns makes a network namespace bound at dir/name, as
// `ip netns add` does, and runs setup inside it.
func createNamedNetns(dir, name string, setup func() error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create namespace directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	return path, kernel.CreateNetns(path, setup)
}
