package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// killPorts are the host ports the kill loop publishes: 800N by
// `container create cN -p`, 810N by `container publish cN`.
var killPorts = []int{8001, 8002, 8003, 8101, 8102, 8103}

// killOps are the mutating commands of the kill loop, for container cN;
// most may fail in the state at hand (exit 1), which is fine.
var killOps = []func(n int) []string{
	func(n int) []string {
		return []string{"container", "create", fmt.Sprintf("c%d", n), "--network", "app", "-p", fmt.Sprintf("800%d:80", n)}
	},
	func(n int) []string {
		return []string{"container", "create", fmt.Sprintf("c%d", n), "--network", "app", "-p", fmt.Sprintf("800%d:80", n)}
	},
	func(n int) []string { return []string{"container", "rm", fmt.Sprintf("c%d", n)} },
	func(n int) []string { return []string{"network", "connect", "other", fmt.Sprintf("c%d", n)} },
	func(n int) []string { return []string{"network", "disconnect", "other", fmt.Sprintf("c%d", n)} },
	func(n int) []string {
		return []string{"container", "publish", fmt.Sprintf("c%d", n), "-p", fmt.Sprintf("810%d:80", n)}
	},
	func(n int) []string {
		return []string{"container", "unpublish", fmt.Sprintf("c%d", n), fmt.Sprintf("810%d:80", n)}
	},
	func(int) []string { return []string{"network", "create", "--subnet", "10.78.0.0/24", "other"} },
	func(int) []string { return []string{"network", "rm", "other"} },
	func(int) []string { return []string{"network", "prune", "-f"} },
}

// crashKills is BPFNET_CRASH_KILLS, the kills the loop lands (default 24).
func crashKills(t *testing.T) int {
	v := os.Getenv("BPFNET_CRASH_KILLS")
	if v == "" {
		return 24
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("BPFNET_CRASH_KILLS=%q: want a positive number", v)
	}
	return n
}

// crashSeed is BPFNET_CRASH_SEED, or a new seed; the test logs it.
func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv("BPFNET_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("BPFNET_CRASH_SEED=%q: %v", v, err)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// TestRandomKills: mutating commands get SIGKILL at a random 5-200 ms
// (below twice the time the command took when it finished, so that most
// kills land inside it); after each kill `system repair` or the next
// mutating command recovers, and then `system check` says ok and is
// right, no port answers the LAN without a record, every veth has its
// programs and no address is given twice (issue 9). BPFNET_CRASH_SEED
// replays a run's commands and delays (where a kill lands still depends on
// timing); BPFNET_CRASH_KILLS sets the number of kills.
func TestRandomKills(t *testing.T) {
	t.Parallel()
	kills, seed := crashKills(t), crashSeed(t)
	t.Logf("seed %d (BPFNET_CRASH_SEED=%d replays it), %d kills", seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	in := tu.NewInstance(t, "tc")
	lan := tu.NewLAN(t, in)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "keeper", "--network", "app") // so that prune leaves app

	took := map[string]time.Duration{} // the last duration of each verb that finished
	verbOf := func(args []string) string { return args[0] + " " + args[1] }
	landed := 0
	for run := 0; landed < kills && run < 20*kills; run++ {
		args := killOps[rng.IntN(len(killOps))](1 + rng.IntN(3))
		max := 200 * time.Millisecond
		if d, ok := took[verbOf(args)]; ok && 2*d < max {
			max = 2 * d
		}
		if max < 6*time.Millisecond {
			max = 6 * time.Millisecond
		}
		delay := 5*time.Millisecond + time.Duration(rng.Int64N(int64(max-5*time.Millisecond)))
		start := time.Now()
		r, killed := in.RunKilledAfter(delay, args...)
		where := fmt.Sprintf("run %d (seed %d): %s", run, seed, strings.Join(args, " "))
		noPanic(t, r, where)
		if !killed {
			took[verbOf(args)] = time.Since(start)
			if r.Code != 0 && r.Code != 1 {
				t.Errorf("%s: want exit 0 or 1; got %s", where, brief(r))
			}
			continue
		}
		landed++
		where = fmt.Sprintf("%s, killed after %v", where, delay)
		ok := true
		if rng.IntN(2) == 0 {
			ok = recoverByRepair(t, in, lan, killPorts, where)
		} else {
			next := killOps[rng.IntN(len(killOps))](1 + rng.IntN(3))
			r := in.Run(next...)
			ok = noPanic(t, r, where+", next: "+strings.Join(next, " "))
			if r.Code != 0 && r.Code != 1 {
				t.Errorf("%s: the next command %s: want exit 0 or 1; got %s", where, strings.Join(next, " "), brief(r))
				ok = false
			}
			if r := in.Run("system", "check"); r.Code != 0 {
				t.Errorf("%s: system check after the next mutating command (%s), without repair: %s", where, strings.Join(next, " "), brief(r))
				ok = false
			}
		}
		if !checkConsistent(t, in, lan, killPorts, where+", recovered") || !ok {
			// Later kills would report this kill's leftovers again.
			t.Fatalf("stopping at the first kill that left a wrong state: %s", where)
		}
	}
	if landed < kills {
		t.Errorf("only %d of %d kills landed inside a command (durations %v)", landed, kills, took)
	}
	t.Logf("%d kills landed; last durations %v", landed, took)

	// Everything goes, and nothing stays behind.
	for n := 1; n <= 3; n++ {
		if r := in.Run("container", "rm", fmt.Sprintf("c%d", n)); r.Code != 0 && !strings.Contains(r.Stderr, "No such container") {
			t.Errorf("container rm c%d: %v", n, r)
		}
	}
	in.MustRun("container", "rm", "keeper")
	in.MustRun("network", "prune", "-f")
	checkConsistent(t, in, lan, killPorts, "after removing every container")
	if files := in.NetnsFiles(); len(files) != 0 {
		t.Errorf("namespace files left after every container was removed: %v", files)
	}
	if veths := containerVeths(t, in); len(veths) != 0 {
		t.Errorf("host veths left after every container was removed: %v", veths)
	}
}
