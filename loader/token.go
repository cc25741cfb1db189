package loader

import (
	"os"
	"strings"
	"sync"
	_ "unsafe" // go:linkname
)

// cilium/ebpf looks for a BPF token before its first map, program or BTF
// load by reading /proc/self/mountinfo whole for bpffs mounts. Every
// container's namespace is a bind mount, so that read grows with the
// containers (about 15 ms per command at 5,000). In the initial user
// namespace the kernel refuses to make tokens (EOPNOTSUPP), so there the
// search can only come back empty: it is settled as empty before it runs.
// A build against a library without this variable fails to link rather
// than silently scanning again.
//
//go:linkname ebpfTokenOnce github.com/cilium/ebpf/internal/sys.tokenOnce
var ebpfTokenOnce sync.Once

func init() {
	if inInitialUserNamespace() {
		ebpfTokenOnce.Do(func() {})
	}
}

// inInitialUserNamespace: the initial user namespace maps every ID to
// itself, which no other namespace can.
func inInitialUserNamespace() bool {
	m, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295"
}
