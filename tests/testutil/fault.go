package testutil

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvFault is the control plane's fault-injection hook (ctl/fault.go):
// BPFNET_FAULT=N kills the command at its Nth step (each kernel change and
// each store write), N:error makes that step fail instead. Named here, not
// imported, so the tests state the contract they rely on.
const EnvFault = "BPFNET_FAULT"

// NoFault is a BPFNET_FAULT value beyond any command's steps: the command
// runs to its end and logs every step.
const NoFault = EnvFault + "=1000000"

// RunEnv runs the CLI against the instance with env (KEY=VALUE) added to
// the instance's own, e.g. in.RunEnv([]string{"BPFNET_FAULT=3"}, args...).
func (in *Instance) RunEnv(env []string, args ...string) Result {
	return runCLI(append(in.Env(), env...), args...)
}

// RunFault runs the CLI with BPFNET_FAULT=fault (e.g. "3" or "3:error").
func (in *Instance) RunFault(fault string, args ...string) Result {
	return in.RunEnv([]string{EnvFault + "=" + fault}, args...)
}

// Killed tells whether the run ended by a signal (the hook's SIGKILL or a
// test's), not by an exit or a harness failure.
func (r Result) Killed() bool {
	return r.Code == -1 && !strings.Contains(r.Stderr, "(test harness)")
}

var stepLine = regexp.MustCompile(`(?m)^bpfnet: step (\d+): (.*)$`)

// Steps returns the steps a run logged with BPFNET_FAULT set, in order:
// Steps(r)[i] is what step i+1 did.
func Steps(stderr string) []string {
	var out []string
	for _, m := range stepLine.FindAllStringSubmatch(stderr, -1) {
		if n, _ := strconv.Atoi(m[1]); n == len(out)+1 {
			out = append(out, m[2])
		}
	}
	return out
}

// RunKilledAfter starts the CLI against the instance and sends it SIGKILL
// after delay, unless it ended first. killed says whether the signal ended
// it; a run that finished before the delay is an ordinary Result.
func (in *Instance) RunKilledAfter(delay time.Duration, args ...string) (r Result, killed bool) {
	self, err := os.Executable()
	if err != nil {
		return Result{Args: args, Code: -1, Stderr: err.Error()}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), Scale(cliTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BPFNET_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, EnvAsCLI+"=1")
	cmd.Env = append(cmd.Env, in.Env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	r = Result{Args: args}
	if err := cmd.Start(); err != nil {
		r.Code, r.Stderr = -1, "(test harness) "+err.Error()
		return r, false
	}
	timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	err = cmd.Wait()
	timer.Stop()
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed = ctx.Err() == nil
		}
	default:
		r.Code = -1
		r.Stderr += "\n(test harness) " + err.Error()
	}
	if ctx.Err() != nil {
		r.Stderr += "\n(test harness) killed after " + Scale(cliTimeout).String()
	}
	return r, killed
}
