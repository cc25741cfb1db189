// Package smoke checks, inside a `make vm-test` guest, that the VM gives the project's tests what
// they need: a bpffs, the kernel modules, veth pairs across namespaces, vxlan and bridge
// devices, and the TC attach mode the kernel supports. Lines starting "capability:" are
// collected by vm/run.sh into its per-kernel report. Outside a VM every test skips.
package smoke

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inVM skips the test unless vm/init.sh started it: these tests change the machine's network.
func inVM(t *testing.T) {
	t.Helper()
	if os.Getenv("BPFNET_VM") != "1" {
		t.Skip("runs only inside a test VM (make vm-test)")
	}
}

// capability logs one line of the per-kernel report.
func capability(t *testing.T, what, verdict string) {
	t.Helper()
	t.Logf("capability: %s=%s", what, verdict)
}

func TestBPFFS(t *testing.T) {
	inVM(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil {
		t.Fatalf("statfs /sys/fs/bpf: %v", err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		t.Fatalf("/sys/fs/bpf is filesystem %#x, want bpffs (%#x)", st.Type, unix.BPF_FS_MAGIC)
	}
}

func TestCgroup2(t *testing.T) {
	inVM(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("statfs /sys/fs/cgroup: %v", err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("/sys/fs/cgroup is filesystem %#x, want cgroup2", st.Type)
	}
}

// TestModulesLoaded: every module that vm/kernels.sh collected for this kernel is loaded.
func TestModulesLoaded(t *testing.T) {
	inVM(t)
	want, err := os.ReadFile("/lib/modules/vm/modules.order")
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	f, err := os.Open("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		loaded[strings.Fields(sc.Text())[0]] = true
	}
	for _, m := range strings.Fields(string(want)) {
		if !loaded[m] {
			t.Errorf("module %s is not loaded (see the insmod lines of the log)", m)
		}
	}
	t.Logf("loaded: %s", strings.Join(strings.Fields(string(want)), " "))
}

func TestKernelRelease(t *testing.T) {
	inVM(t)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	label := os.Getenv("BPFNET_KERNEL")
	if label == "" || !strings.HasPrefix(release, label+".") {
		t.Fatalf("BPFNET_KERNEL=%q but the kernel is %s", label, release)
	}
	t.Logf("kernel %s (BPFNET_KERNEL=%s)", release, label)
}
