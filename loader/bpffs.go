package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const sysBPFFS = "/sys/fs/bpf"

// ensureBPFFS makes dir a place where pins can live. A directory below an
// existing bpffs (/sys/fs/bpf/bpfnet) is used as it is; anywhere else an
// instance gets a bpffs of its own, which keeps test instances apart and
// stays visible where `ip netns exec` hides /sys/fs/bpf.
func ensureBPFFS(dir string) error {
	// Hosts without systemd's mount, like these VMs, leave /sys/fs/bpf
	// empty: mount it as systemd would.
	if strings.HasPrefix(dir, sysBPFFS+"/") && !onBPFFS(sysBPFFS) {
		if err := unix.Mount("bpffs", sysBPFFS, "bpf", 0, ""); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", sysBPFFS, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bpffs directory %s: %w", dir, err)
	}
	if onBPFFS(dir) {
		return nil
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", dir, err)
	}
	return nil
}

func onBPFFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// isMountpoint is true when dir is the root of its own mount.
func isMountpoint(dir string) bool {
	var self, parent unix.Stat_t
	if unix.Stat(dir, &self) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return self.Dev != parent.Dev
}

// removeBPFFS unpins everything below dir. A bpffs of the instance's own is
// unmounted, which releases its pins at once.
func removeBPFFS(dir string) error {
	if isMountpoint(dir) && onBPFFS(dir) {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount bpffs %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("unpin %s: %w", dir, err)
	}
	return nil
}

// loadPinnedMap opens the map pinned at path. It is ebpf.LoadPinnedMap
// without the readlink of /proc/self/fd that tells a map's descriptor from
// a program's: every command opens all the instance's maps, and their
// pins are named by this package; the layout check that follows
// (openPinned) refuses anything that is not the map it expects.
func loadPinnedMap(path string) (*ebpf.Map, error) {
	name, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("pin %s: %w", path, err)
	}
	attr := struct {
		pathname  uint64
		bpfFD     uint32
		fileFlags uint32
	}{pathname: uint64(uintptr(unsafe.Pointer(name)))}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_OBJ_GET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(name)
	if errno != 0 {
		return nil, fmt.Errorf("open pin %s: %w", path, errno)
	}
	m, err := ebpf.NewMapFromFD(int(fd))
	if err != nil {
		return nil, fmt.Errorf("open pin %s: %w", path, err)
	}
	return m, nil
}
