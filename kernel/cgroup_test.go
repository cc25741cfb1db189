package kernel

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// cgroup2MountsListed is every cgroup2 mount point /proc/self/mounts lists.
func cgroup2MountsListed(t *testing.T) map[string]bool {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 2 && fields[2] == "cgroup2" {
			out[fields[1]] = true
		}
	}
	return out
}

// TestCgroup2MountIsListed: the answer found without reading the mount
// table is one the mount table gives, and none is claimed where the table
// has none.
func TestCgroup2MountIsListed(t *testing.T) {
	listed := cgroup2MountsListed(t)
	got, err := Cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	if got == "" && len(listed) > 0 {
		t.Fatalf("Cgroup2Mount found none; the mount table has %v", listed)
	}
	if got != "" && !listed[got] {
		t.Fatalf("Cgroup2Mount = %q, not a cgroup2 mount in the table %v", got, listed)
	}
}
