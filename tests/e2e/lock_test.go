package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestLockSurvivesReset: `system reset` keeps ROOT/lock, so commands that
// wait on the lock while a reset runs still exclude each other: twenty
// commands mixed with two resets never run at once (no "file exists" from
// a second process creating what the first is creating), and the kernel
// matches the store after (issue 9, contract C11).
func TestLockSurvivesReset(t *testing.T) {
	t.Parallel()
	if os.Getenv("BPFNET_VM") == "1" {
		// Debian's 5.10 under QEMU's TCG soft-locks in rtnl_getlink with these
		// twenty processes beside the suite's other tests (seen twice; alone
		// it passes): the lock's logic does not depend on the kernel, and the
		// host runs this test.
		t.Skip("too many concurrent processes for a TCG guest")
	}
	in := tu.NewInstance(t, "tc")
	in.MustRun("network", "create", "app")
	in.MustRun("system", "reset", "-f")
	if _, err := os.Stat(filepath.Join(in.Root, "lock")); err != nil {
		t.Errorf("after system reset: %v; want the lock kept", err)
	}

	for round := range 5 {
		results := make([]tu.Result, 20)
		var wg sync.WaitGroup
		for i := range results {
			args := []string{"network", "create", fmt.Sprintf("n%d", i)}
			switch {
			case i%10 == 0:
				args = []string{"system", "reset", "-f"}
			case i%3 == 1:
				args = []string{"container", "create", fmt.Sprintf("c%d", i)}
			case i%3 == 2:
				args = []string{"network", "ls"}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Staggered, so that some start while the reset runs.
				time.Sleep(time.Duration(i) * 4 * time.Millisecond)
				results[i] = in.Run(args...)
			}()
		}
		wg.Wait()
		for _, r := range results {
			where := fmt.Sprintf("round %d, concurrent with a reset", round)
			if noPanic(t, r, where) && (strings.Contains(r.Stderr, "file exists") || (r.Code != 0 && r.Code != 1)) {
				t.Errorf("%s: %s", where, brief(r))
			}
		}
		checkConsistent(t, in, "", nil, fmt.Sprintf("round %d, after the commands", round))
		in.MustRun("system", "reset", "-f")
	}
}
