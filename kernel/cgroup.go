package kernel

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup2Mount is where the cgroup v2 hierarchy is mounted ("" when it is
// not). The usual places, then the callers' own (likely), are asked
// first: /proc/self/mounts lists every container's namespace mount too,
// and reading it costs milliseconds with thousands of them.
func Cgroup2Mount(likely ...string) (string, error) {
	for _, dir := range append([]string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}, likely...) {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir, nil
		}
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1], nil
		}
	}
	return "", s.Err()
}

// MountCgroup2 mounts the cgroup v2 hierarchy on dir, creating dir, for
// hosts that mount only v1 hierarchies.
func MountCgroup2(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		return fmt.Errorf("mount cgroup2 on %s: %w", dir, err)
	}
	return nil
}
