// Package testutil holds what bpfnet's privileged tests share: instances in
// namespaces of their own, the CLI run as a real second process, and traffic
// made in-process (sockets created inside a namespace stay in it). Nothing
// here shells out to ip, ping, tc or go: the same test binaries run in VMs
// that have only busybox.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/cli"
)

// EnvAsCLI makes the test binary act as the bpfnet CLI.
const EnvAsCLI = "BPFNET_E2E_AS_CLI"

// ArgDescribeNetns, as the first argument of the test binary in CLI mode,
// makes it print its network namespace and interfaces instead: a command
// for `bpfnet exec` in a VM without iproute2.
const ArgDescribeNetns = "__e2e-describe-netns"

// ArgFile, as the first argument of the test binary in CLI mode, makes it
// write ("write PATH TEXT") or print ("read PATH") a file: a command for
// `bpfnet exec` that sees the container's mounts.
const ArgFile = "__e2e-file"

// Main is a test package's TestMain: with EnvAsCLI=1 the binary is the
// bpfnet CLI (or, with ArgDescribeNetns, describes its namespace),
// otherwise it runs the tests.
func Main(m *testing.M) {
	if os.Getenv(EnvAsCLI) == "1" {
		if len(os.Args) > 1 && os.Args[1] == ArgDescribeNetns {
			os.Exit(describeNetns())
		}
		if len(os.Args) > 1 && os.Args[1] == ArgFile {
			os.Exit(fileOp(os.Args[2:]))
		}
		os.Exit(cli.Main(cli.DefaultEnv(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// describeNetns prints "netns <inode>" and one "link <name> <up|down>" line
// per interface of the calling process's network namespace.
func describeNetns() int {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("netns %d\n", st.Ino)
	ifs, err := net.Interfaces()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, i := range ifs {
		state := "down"
		if i.Flags&net.FlagUp != 0 {
			state = "up"
		}
		fmt.Printf("link %s %s\n", i.Name, state)
	}
	return 0
}

// fileOp is ArgFile's work.
func fileOp(args []string) int {
	var err error
	switch {
	case len(args) == 3 && args[0] == "write":
		err = os.WriteFile(args[1], []byte(args[2]), 0o644)
	case len(args) == 2 && args[0] == "read":
		var data []byte
		if data, err = os.ReadFile(args[1]); err == nil {
			_, err = os.Stdout.Write(data)
		}
	default:
		err = fmt.Errorf("usage: %s write PATH TEXT | read PATH", ArgFile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Result is one finished CLI run.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r Result) String() string {
	return fmt.Sprintf("bpfnet %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// cliTimeout bounds every CLI run.
var cliTimeout = 60 * time.Second

// runCLI runs the test binary as the CLI with env (KEY=VALUE) added to the
// environment, minus any BPFNET_* variable the caller's environment holds.
func runCLI(env []string, args ...string) Result {
	self, err := os.Executable()
	if err != nil {
		return Result{Args: args, Code: -1, Stderr: err.Error()}
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
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	err = cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	switch e := err.(type) {
	case nil:
	case *exec.ExitError:
		r.Code = e.ExitCode()
	default:
		r.Code = -1
		r.Stderr += "\n(test harness) " + err.Error()
	}
	if ctx.Err() != nil {
		r.Stderr += "\n(test harness) killed after " + Scale(cliTimeout).String()
	}
	return r
}

// Scale stretches a timeout by BPFNET_E2E_TIME_SCALE (default 1), for slow
// machines such as QEMU guests without KVM.
func Scale(d time.Duration) time.Duration {
	var f float64
	if _, err := fmt.Sscanf(os.Getenv("BPFNET_E2E_TIME_SCALE"), "%g", &f); err != nil || f < 1 {
		return d
	}
	return time.Duration(float64(d) * f)
}
