package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// crashFull (BPFNET_CRASH_FULL=1, set by `make crash-test`) runs every
// step of every verb in both fault modes; CI runs a bounded selection.
var crashFull = os.Getenv("BPFNET_CRASH_FULL") == "1"

// crashPorts are the host ports the crash tests publish (to 80/tcp), and
// so the ports the LAN probes after every fault.
var crashPorts = []int{8000, 8001, 8002}

// faultVerb is one mutating command under the fault hook: setup brings
// the instance to the state before it, undo from the state after a
// successful run back to that state.
type faultVerb struct {
	name  string
	setup [][]string
	args  []string
	undo  [][]string
	kill  bool // every step in kill mode also in CI
}

var faultVerbs = []faultVerb{
	{name: "container-create-p",
		args: []string{"container", "create", "c2", "--network", "app", "-p", "8001:80"},
		undo: [][]string{{"container", "rm", "c2"}}, kill: true},
	{name: "network-connect",
		setup: [][]string{{"network", "create", "--subnet", "10.78.0.0/24", "other"}},
		args:  []string{"network", "connect", "other", "base"},
		undo:  [][]string{{"network", "disconnect", "other", "base"}}, kill: true},
	{name: "network-disconnect",
		setup: [][]string{{"network", "create", "--subnet", "10.78.0.0/24", "other"}, {"network", "connect", "other", "base"}},
		args:  []string{"network", "disconnect", "other", "base"},
		undo:  [][]string{{"network", "connect", "other", "base"}}},
	{name: "container-publish",
		args: []string{"container", "publish", "base", "-p", "8002:80"},
		undo: [][]string{{"container", "unpublish", "base", "8002:80"}}, kill: true},
	{name: "container-unpublish",
		setup: [][]string{{"container", "publish", "base", "-p", "8002:80"}},
		args:  []string{"container", "unpublish", "base", "8002:80"},
		undo:  [][]string{{"container", "publish", "base", "-p", "8002:80"}}},
	{name: "container-rm",
		setup: [][]string{{"container", "create", "c2", "--network", "app", "-p", "8001:80"}},
		args:  []string{"container", "rm", "c2"},
		undo:  [][]string{{"container", "create", "c2", "--network", "app", "-p", "8001:80"}}, kill: true},
	{name: "network-create",
		args: []string{"network", "create", "--subnet", "10.79.0.0/24", "n3"},
		undo: [][]string{{"network", "rm", "n3"}}, kill: true},
	{name: "network-rm",
		setup: [][]string{{"network", "create", "--subnet", "10.79.0.0/24", "n3"}},
		args:  []string{"network", "rm", "n3"},
		undo:  [][]string{{"network", "create", "--subnet", "10.79.0.0/24", "n3"}}},
	{name: "network-prune",
		setup: [][]string{{"network", "create", "--subnet", "10.79.0.0/24", "n3"}},
		args:  []string{"network", "prune", "-f"},
		undo:  [][]string{{"network", "create", "--subnet", "10.79.0.0/24", "n3"}}},
}

// TestFaultAtEveryStep: a mutating command stopped at any of its steps,
// by a kill or by an error, leaves its whole effect or none once `system
// repair` or the next mutating command ran: `system check` finds any
// difference first and says ok after; the state equals the one before the
// command or the one after a successful run; the kernel matches the store
// both ways, no port answers the LAN without a record, every veth has its
// programs (issue 9, contract C1-C6).
//
// CI: every step in kill mode for the verbs marked kill, the first,
// middle and last step in error mode for all; BPFNET_CRASH_FULL=1: every
// step of every verb in both modes.
func TestFaultAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, v := range faultVerbs {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			testFaultVerb(t, v)
		})
	}
}

func testFaultVerb(t *testing.T, v faultVerb) {
	verb := strings.Join(v.args, " ")
	in, lan := faultInstance(t, v)

	// A successful run, with every step logged: the steps to stop at and
	// the state a completed command leaves.
	before := takeCrashState(t, in)
	r := in.RunEnv([]string{tu.NoFault}, v.args...)
	if r.Code != 0 {
		t.Fatalf("%s with %s: %s", verb, tu.NoFault, brief(r))
	}
	steps := tu.Steps(r.Stderr)
	if len(steps) == 0 {
		t.Fatalf("%s logged no step with %s set: the fault hook is not wired (want \"bpfnet: step N: WHAT\" on stderr for each kernel change and store write); stderr: %q", verb, tu.NoFault, r.Stderr)
	}
	t.Logf("%s: %d steps:\n  %s", verb, len(steps), strings.Join(steps, "\n  "))
	success := takeCrashState(t, in)
	if success.equal(before) {
		t.Fatalf("%s changed nothing in the state the test compares (a test bug)", verb)
	}
	checkConsistent(t, in, lan, crashPorts, verb+" (no fault)")
	if !undo(t, in, v, before, verb+" (no fault)") {
		return
	}

	var failed []string
	for _, mode := range []string{"kill", "error"} {
		for step := 1; step <= len(steps); step++ {
			if !crashFull && !selectedStep(v, mode, step, len(steps)) {
				continue
			}
			where := fmt.Sprintf("%s, %s at step %d of %d (%s)", verb, mode, step, len(steps), steps[step-1])
			if !faultOnce(t, in, lan, v, mode, step, before, success, where) {
				failed = append(failed, fmt.Sprintf("%s at step %d (%s)", mode, step, steps[step-1]))
				// The instance is in no known state: go on with a new one.
				in, lan = faultInstance(t, v)
			}
		}
	}
	if len(failed) > 0 {
		t.Errorf("%s: the faults with a problem (details above):\n  %s", verb, strings.Join(failed, "\n  "))
		return
	}
	// The name and the addresses the faults touched are free again: a run
	// without a fault gives the same state as the first one.
	in.MustRun(v.args...)
	if got := takeCrashState(t, in); !got.equal(success) {
		t.Errorf("%s after all the faults: the state differs from the first successful run:\n%s", verb, got.diff(success))
	}
}

// faultInstance makes an instance in the state before v: a LAN, network
// app with container base publishing 8000, and v's setup.
func faultInstance(t *testing.T, v faultVerb) (*tu.Instance, string) {
	t.Helper()
	in := tu.NewInstance(t, "tc")
	lan := tu.NewLAN(t, in)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "base", "--network", "app", "-p", "8000:80")
	for _, args := range v.setup {
		in.MustRun(args...)
	}
	return in, lan
}

// selectedStep is CI's selection: every step in kill mode for the verbs
// marked kill; the first, middle and last step in error mode.
func selectedStep(v faultVerb, mode string, step, steps int) bool {
	if mode == "kill" {
		return v.kill
	}
	return step == 1 || step == (steps+1)/2 || step == steps
}

// faultOnce stops the verb at step in mode, recovers and checks. It
// returns false when it found a problem; the instance is then in no known
// state.
func faultOnce(t *testing.T, in *tu.Instance, lan string, v faultVerb, mode string, step int, before, success crashState, where string) bool {
	t.Helper()
	fault := fmt.Sprint(step)
	if mode == "error" {
		fault += ":error"
	}
	r := in.RunFault(fault, v.args...)
	ok := noPanic(t, r, where)
	logged := tu.Steps(r.Stderr)
	switch {
	case mode == "kill" && !r.Killed():
		t.Errorf("%s: want the command killed at the step; got %s", where, brief(r))
		ok = false
	case mode == "error" && (r.Code != 1 || !strings.Contains(r.Stderr, "injected fault")):
		t.Errorf("%s: want exit 1 with the injected fault in stderr; got %s", where, brief(r))
		ok = false
	case mode == "kill" && len(logged) != step, mode == "error" && len(logged) < step:
		// An error's own undo may take steps of its own; a kill ends all.
		t.Errorf("%s: the command logged %d steps, want it stopped at step %d; %s", where, len(logged), step, brief(r))
		ok = false
	}

	// Recover by `system repair` on odd steps, by the next mutating
	// command on even ones.
	if step%2 == 1 {
		ok = recoverByRepair(t, in, lan, crashPorts, where) && ok
	} else {
		ok = recoverByNextCommand(t, in, where) && ok
	}
	ok = checkConsistent(t, in, lan, crashPorts, where+", recovered") && ok

	after := takeCrashState(t, in)
	switch {
	case after.equal(before):
		t.Logf("%s: recovered to the state before the command", where)
		return ok
	case after.equal(success):
		t.Logf("%s: recovered to the state of a completed command", where)
		// Undone, the command's ports answer no more (C4: after `container
		// rm` nothing answers).
		return ok && undo(t, in, v, before, where) && checkConsistent(t, in, lan, crashPorts, where+", undone")
	}
	t.Errorf("%s: after recovery the state is neither the one before the command nor the one after it:\nvs before:\n%s\nvs after a successful run:\n%s",
		where, after.diff(before), after.diff(success))
	return false
}

// recoverByRepair: `system check` must not call a broken state ok (its
// verdict is held against the test's own comparison), `system repair`
// exits 0, and check says ok after it.
func recoverByRepair(t *testing.T, in *tu.Instance, lan string, hostPorts []int, where string) bool {
	t.Helper()
	check := in.Run("system", "check")
	ok := noPanic(t, check, where+", system check")
	switch {
	case check.Code == 0 && strings.TrimSpace(check.Stdout) == "ok":
		// Then the kernel must really match the store.
		ok = checkKernelMatchesStore(t, in, lan, hostPorts, where+", system check said ok before repair") && ok
	case check.Code != 1 || strings.TrimSpace(check.Stderr) == "":
		t.Errorf("%s: system check: want exit 0 and ok, or exit 1 listing the differences; got %s", where, brief(check))
		ok = false
	}
	if r := in.Run("system", "repair"); r.Code != 0 {
		t.Errorf("%s: system repair: %s", where, brief(r))
		ok = false
	}
	return ok
}

// recoverByNextCommand: an unrelated mutating command succeeds and leaves
// nothing for `system check` to find.
func recoverByNextCommand(t *testing.T, in *tu.Instance, where string) bool {
	t.Helper()
	r := in.Run("network", "create", "--subnet", "10.90.0.0/24", "next")
	if !noPanic(t, r, where+", next command") {
		return false
	}
	if r.Code != 0 {
		t.Errorf("%s: the next mutating command (network create next): %s", where, brief(r))
		return false
	}
	ok := true
	if r := in.Run("system", "check"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("%s: system check after the next mutating command, without repair: %s", where, brief(r))
		ok = false
	}
	if r := in.Run("network", "rm", "next"); r.Code != 0 {
		t.Errorf("%s: network rm next: %s", where, brief(r))
		ok = false
	}
	return ok
}

// undo brings the state of a completed verb back to before.
func undo(t *testing.T, in *tu.Instance, v faultVerb, before crashState, where string) bool {
	t.Helper()
	for _, args := range v.undo {
		if r := in.Run(args...); r.Code != 0 {
			t.Errorf("%s: undo: %s", where, brief(r))
			return false
		}
	}
	if got := takeCrashState(t, in); !got.equal(before) {
		t.Errorf("%s: after the undo the state is not the one before the command:\n%s", where, got.diff(before))
		return false
	}
	return true
}
