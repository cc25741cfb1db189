package ctl

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvFault names the environment variable of the fault-injection hook that
// the crash tests use: BPFNET_FAULT=N stops the command at its Nth step as
// a kill -9 would (no deferred code runs); BPFNET_FAULT=N:error makes the
// Nth step fail instead, so the command's own error path runs. A step is
// each change to the kernel and each store write, counted from Open. With
// the variable set, every step is logged to stderr as "bpfnet: step N: WHAT",
// so a test knows how many steps a command has.
const EnvFault = "BPFNET_FAULT"

// faults is the hook's state for one command.
type faults struct {
	at    int  // 0: off
	fail  bool // fail the step rather than die
	steps int
	log   io.Writer
}

// parseFault reads BPFNET_FAULT's value ("" is off).
func parseFault(v string, log io.Writer) (*faults, error) {
	if v == "" {
		return &faults{}, nil
	}
	num, mode, _ := strings.Cut(v, ":")
	at, err := strconv.Atoi(num)
	if err != nil || at < 1 || (mode != "" && mode != "error" && mode != "kill") {
		return nil, fmt.Errorf("invalid %s=%q: want N, N:kill or N:error with N >= 1", EnvFault, v)
	}
	return &faults{at: at, fail: mode == "error", log: log}, nil
}

// step marks a point after which the kernel or the store has changed (or
// is about to); the hook may end the command there.
func (f *faults) step(what string) error {
	if f == nil || f.at == 0 {
		return nil
	}
	f.steps++
	fmt.Fprintf(f.log, "bpfnet: step %d: %s\n", f.steps, what)
	if f.steps != f.at {
		return nil
	}
	if f.fail {
		return fmt.Errorf("injected fault at step %d (%s)", f.steps, what)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Second) // until SIGKILL lands: nothing may run meanwhile
	}
}
