package ctltest

import (
	"fmt"
	"strings"
)

// A fault fails a call, or stops the command after it.
type fault struct {
	op    string // "" is every call that changes the machine
	nth   int    // counted from when the fault was set, from 1
	crash bool
	seen  int
}

// ErrInjected is the error of a failed call.
var ErrInjected = fmt.Errorf("injected fault")

// FailAt makes the nth call of op from now fail with ErrInjected, having
// changed nothing; op "" counts every call that changes the machine (Calls).
func (k *Kernel) FailAt(op string, nth int) { k.faults = append(k.faults, &fault{op: op, nth: nth}) }

// CrashAfter stops the command Run runs right after the nth call of op
// from now took effect, as a kill -9 would: nothing of the command runs
// afterwards, not even its deferred calls.
func (k *Kernel) CrashAfter(op string, nth int) {
	k.faults = append(k.faults, &fault{op: op, nth: nth, crash: true})
}

// ClearFaults removes the faults not yet hit.
func (k *Kernel) ClearFaults() { k.faults = nil }

// Run runs cmd, a command on an open instance, as a process would run it:
// it returns cmd's error, or crashed when a CrashAfter fault stopped it.
// The stopped command's goroutine stays parked for good; the test then
// closes the instance, as the kernel closes a killed process's
// descriptors (its lock among them).
func (k *Kernel) Run(cmd func() error) (crashed bool, err error) {
	k.crash = make(chan struct{})
	defer func() { k.crash = nil }()
	done := make(chan error, 1)
	go func() { done <- cmd() }()
	select {
	case err := <-done:
		return false, err
	case <-k.crash:
		return true, nil
	}
}

// change is called by every fake call that changes the machine, before it
// does: it records the call and fails it if a fault says so. The returned
// function is to be called once the change is made.
func (k *Kernel) change(op string, args ...any) (func(), error) {
	call := strings.TrimSpace(op + " " + strings.TrimSpace(fmt.Sprintln(args...)))
	crash := false
	for _, f := range k.faults {
		if f.op != "" && f.op != op {
			continue
		}
		f.seen++
		if f.seen != f.nth {
			continue
		}
		if !f.crash {
			k.calls = append(k.calls, call+" (failed)")
			return nil, fmt.Errorf("%s: %w", call, ErrInjected)
		}
		crash = true
	}
	k.calls = append(k.calls, call)
	if !crash {
		return func() {}, nil
	}
	return k.stop, nil
}

// stop ends the running command for good.
func (k *Kernel) stop() {
	if k.crash == nil {
		panic("ctltest: a crash fault outside Kernel.Run")
	}
	close(k.crash)
	select {}
}
