package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// session owns everything one harness run creates: namespaces named
// "bnb-<pid>-*", processes, and one temporary directory. Each creation pushes
// its undo onto a stack that close runs in reverse order, on a normal end, on
// SIGINT/SIGTERM/SIGHUP and after a panic (main recovers, closes, re-panics).
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	prefix string // "bnb-<pid>-"
	tmp    string // /tmp/bnb-<pid>-XXXX

	mu     sync.Mutex
	undo   []func()
	procs  []*proc
	closed bool
}

func newSession() (*session, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{ctx: ctx, cancel: cancel, prefix: fmt.Sprintf("bnb-%d-", os.Getpid())}
	tmp, err := os.MkdirTemp("", s.prefix)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s.tmp = tmp
	s.push(func() { removeTree(tmp) })
	return s, nil
}

// handleSignals cancels the run on the first signal (the measuring loop stops
// and main cleans up) and cleans up at once on the second.
func (s *session) handleSignals() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "\nbench: %v: stopping, cleaning up\n", sig)
		s.cancel()
		sig = <-ch
		fmt.Fprintf(os.Stderr, "bench: %v again: cleaning up now\n", sig)
		s.close()
		os.Exit(130)
	}()
}

func (s *session) push(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undo = append(s.undo, f)
}

// close kills every process the session started and undoes everything else
// in reverse order. It is safe to call more than once.
func (s *session) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	procs, undo := s.procs, s.undo
	s.mu.Unlock()
	s.cancel()
	for _, p := range procs {
		if !p.ownStop {
			p.kill()
		}
	}
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
}

// proc is a long-running child (server, daemon). It runs in a process group
// of its own, so a terminal's ^C reaches only the harness, which kills it in
// order; Pdeathsig kills it too should the harness die without cleaning up.
type proc struct {
	ownStop bool // stopped by its own undo step (a daemon), not killed first
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	log     *os.File
}

func (s *session) start(name string, argv []string, env []string) (*proc, error) {
	return s.startWith(name, argv, env, nil)
}

// startWith is start with extra open files for the child (fd 3, 4, ...).
func (s *session) startWith(name string, argv []string, env []string, extra []*os.File) (*proc, error) {
	logPath := filepath.Join(s.tmp, "log-"+strings.ReplaceAll(name, "/", "_")+".txt")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() { p.err = cmd.Wait(); lf.Close(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// logTail returns the end of the process's output, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log.Name())
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return s
}

// stop sends sig to the process group, waits up to grace, then kills.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if !p.running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) kill() {
	if !p.running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// run executes a short command and returns its combined output; a failure
// carries the output, which is where ip/iptables explain themselves.
func (s *session) run(argv ...string) (string, error) {
	return s.runCtx(s.ctx, argv...)
}

// runQuiet is run for cleanup: it still works after the session was
// cancelled.
func (s *session) runQuiet(argv ...string) (string, error) {
	return s.runCtx(context.Background(), argv...)
}

func (s *session) runCtx(parent context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(parent, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// runAll runs commands in order and stops at the first failure.
func (s *session) runAll(cmds [][]string) error {
	for _, c := range cmds {
		if _, err := s.run(c...); err != nil {
			return err
		}
	}
	return nil
}

// removeTree unmounts whatever is mounted below dir (bpffs, netns files of
// a bpfnet instance, a dockerd's mounts), deepest first, then removes it.
func removeTree(dir string) {
	for _, m := range mountsBelow(dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	_ = os.RemoveAll(dir)
}

func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			ms = append(ms, fields[4])
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms
}

// removeLeftovers deletes what runs that died without cleaning up left
// behind: namespaces "bnb-<pid>-*", cgroups "bnb-<pid>-dockerd" (with the
// container processes in them) and temp dirs "/tmp/bnb-<pid>-*" whose pid is
// gone. Processes still inside such a namespace were started by that
// run; they are killed before the namespace goes. A live pid is another run
// in progress and is left alone.
func removeLeftovers(s *session) []string {
	var removed []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		pid, ok := leftoverPID(e.Name())
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		if out, err := s.run("ip", "netns", "pids", e.Name()); err == nil {
			for _, f := range strings.Fields(out) {
				if p, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		if _, err := s.run("ip", "netns", "del", e.Name()); err == nil {
			removed = append(removed, "netns "+e.Name())
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/bnb-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/bnb-*")
	for _, cg := range append(cgs, more...) {
		name := filepath.Base(cg)
		if pid, ok := leftoverPID(name); ok && pid != os.Getpid() && !alive(pid) {
			removeCgroups(name)
			removed = append(removed, "cgroup "+cg)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(os.TempDir(), "bnb-*"))
	for _, t := range tmps {
		pid, ok := leftoverPID(filepath.Base(t))
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		removeTree(t)
		removed = append(removed, "dir "+t)
	}
	return removed
}

func leftoverPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "bnb-")
	if !ok {
		return 0, false
	}
	pidStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
