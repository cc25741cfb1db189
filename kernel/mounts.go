package kernel

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// BindMount is a host path seen at another path.
type BindMount struct {
	Source, Destination string
	ReadOnly            bool
}

// PrivateMounts gives the calling thread a mount namespace of its own,
// whose changes never reach the host's (every mount a slave), with ms
// bound in it. Call on a locked OS thread that execs next: the mounts
// are for the command it runs. A destination must exist: containers share
// the host's filesystem, and bpfnet makes no directories in it.
func PrivateMounts(ms []BindMount) error {
	if len(ms) == 0 {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	for _, m := range ms {
		st, err := os.Stat(m.Destination)
		if err != nil {
			return fmt.Errorf("mount %s at %s: the mount point does not exist on the host (containers share its filesystem): %w", m.Source, m.Destination, err)
		}
		if src, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("mount %s at %s: %w", m.Source, m.Destination, err)
		} else if src.IsDir() != st.IsDir() {
			return fmt.Errorf("mount %s at %s: one is a directory, the other is not", m.Source, m.Destination)
		}
		if err := unix.Mount(m.Source, m.Destination, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount %s at %s: %w", m.Source, m.Destination, err)
		}
		if m.ReadOnly {
			flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
			if err := unix.Mount("", m.Destination, "", flags, ""); err != nil {
				return fmt.Errorf("mount %s read-only at %s: %w", m.Source, m.Destination, err)
			}
		}
	}
	return nil
}
