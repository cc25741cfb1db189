// Command harness is bpfnet's benchmark (issue 4), run by `make bench`: it
// builds Docker's kernel dataplane and bpfnet's side by side in network
// namespaces of its own, measures both alternately with the same load
// generator pinned to one CPU, and reports min/median/max of each system and
// of the paired ratios, as a table, JSON and an SVG chart in bench/results/.
//
//	go run ./bench/harness [-quick] [-dockerd] [-rounds N] [-cpu N] [-cases LIST]
//
// QUICK=1, DOCKERD=1 and BENCH_CASES=LIST in the environment do what
// -quick, -dockerd and -cases do.
// It must run as root, from the repository (it builds ./bench/loadgen and
// ./cmd/bpfnet), and touches nothing outside its namespaces "bnb-<pid>-*"
// and its temp dir, both removed at the end, on a signal, or after a panic.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type config struct {
	quick, dockerd bool
	rounds         int
	cpu            int
	budget         time.Duration // whole run, setup included
	maxRun, minRun time.Duration
	publishReps    int
	outDir         string
	fixedRun       time.Duration // -duration: no budget fitting
	cases          caseSelection // -cases: empty is all
	cpNs           []int         // -cp-n: the control-plane case's N
	cpProbe        string        // -cp-probe: a command run at each N (controlplane.go)
}

type harness struct {
	s         *session
	cfg       config
	repo      string
	loadgen   string
	runDur    time.Duration // one rr/crr run
	tputSecs  int           // one iperf3 run
	prog      progress
	started   time.Time
	loadStart string
}

func main() {
	os.Exit(run())
}

func run() (code int) {
	cfg := config{}
	flag.BoolVar(&cfg.quick, "quick", os.Getenv("QUICK") == "1", "quick mode: 3 rounds, under 3 minutes (env QUICK=1)")
	flag.BoolVar(&cfg.dockerd, "dockerd", os.Getenv("DOCKERD") == "1", "also measure a real dockerd (env DOCKERD=1)")
	flag.IntVar(&cfg.rounds, "rounds", 0, "paired runs per cell (default 10, 3 in quick mode)")
	flag.IntVar(&cfg.cpu, "cpu", 1, "CPU that every client and server is pinned to")
	flag.DurationVar(&cfg.fixedRun, "duration", 0, "length of one run (default: 3s, shortened to fit the time budget)")
	flag.StringVar(&cfg.outDir, "out", "bench/results", "directory for the JSON and SVG results")
	redraw := flag.String("svg-from", "", "only redraw the SVG of an earlier run's `JSON` file (next to it) and exit")
	casesSpec := flag.String("cases", os.Getenv("BENCH_CASES"), "run only these cases, comma-separated ids or families, e.g. controlplane or published (env BENCH_CASES)")
	cpNs := flag.String("cp-n", "", "the control-plane case's container counts, increasing (default 10,1000,5000; quick 10,200)")
	flag.StringVar(&cfg.cpProbe, "cp-probe", "", "run this shell command after the control-plane samples at each N, with BPFNET_* naming the case's instance and BPFNET_CP_N the N (to profile a command there)")
	flag.Parse()
	if *redraw != "" {
		if err := redrawSVG(*redraw); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return 0
	}
	var err error
	if cfg.cases, err = parseSelection(*casesSpec, append(datapathCaseIDs(), udpCaseID, cpCaseID)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if cfg.cpNs, err = parseNs(*cpNs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	cfg.maxRun, cfg.minRun = 3*time.Second, time.Second
	if cfg.quick {
		cfg.budget, cfg.publishReps = 150*time.Second, 3
		if cfg.rounds == 0 {
			cfg.rounds = 3
		}
	} else {
		cfg.budget, cfg.publishReps = 14*time.Minute, 7
		if cfg.rounds == 0 {
			cfg.rounds = 10
		}
	}

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (it makes network namespaces)")
		return 1
	}
	if missing := missingTools(cfg.dockerd, cfg.cases.hasAny(append(datapathCaseIDs(), udpCaseID))); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "bench: missing tools: %s (`make bench` installs them)\n", strings.Join(missing, ", "))
		return 1
	}
	repo, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	s, err := newSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	s.handleSignals()
	defer func() {
		r := recover()
		s.close()
		if r != nil {
			panic(r)
		}
	}()
	h := &harness{s: s, cfg: cfg, repo: repo, started: time.Now(), loadStart: loadavg()}
	if err := h.bench(); err != nil {
		if s.ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; cleaned up")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func (h *harness) bench() error {
	s := h.s
	for _, r := range removeLeftovers(s) {
		fmt.Fprintln(os.Stderr, "bench: removed leftover", r)
	}
	mode := "full"
	if h.cfg.quick {
		mode = "quick"
	}
	fmt.Fprintf(os.Stderr, "bench: %s mode, %d rounds, everything pinned to CPU %d, namespaces %s*\n",
		mode, h.cfg.rounds, h.cfg.cpu, s.prefix)

	t := &topologies{}
	var cases []*benchCase
	var ddErr error
	if h.cfg.cases.hasAny(datapathCaseIDs()) {
		var err error
		if ddErr, err = h.setupTopologies(t); err != nil {
			return err
		}
		cases = h.cfg.cases.filter(h.buildCases(t))
	}
	if h.cfg.cases.has(udpCaseID) {
		cases = append(cases, h.udpUnrelatedCase(t.bpf))
	}
	if h.cfg.cases.has(cpCaseID) {
		cases = append(cases, h.controlPlaneCase(t.bpf))
	}
	h.fitDurations(cases)
	rrcrr, tput := plannedRuns(cases)
	fmt.Fprintf(os.Stderr, "bench: %d runs of %v (rr, crr) and %d of %ds (iperf3) planned\n",
		rrcrr*h.cfg.rounds, h.runDur, tput*h.cfg.rounds, h.tputSecs)

	results, err := h.runCases(cases)
	if err != nil {
		return err
	}
	rep := h.newReport(t, results, ddErr)
	if t.bpf != nil && t.bpf.status == "" {
		if m, err := t.bpf.memory(); err != nil {
			rep.Memory.BpfnetStatus = "failed: " + err.Error()
		} else {
			rep.Memory.Bpfnet, rep.Memory.BpfnetStatus = m, "ok"
		}
	}
	if t.dd != nil {
		rep.Memory.Dockerd = t.dd.memory()
	}
	rep.finish()
	rep.printTable(os.Stdout)
	return rep.write(h.cfg.outDir, h.repo)
}

// setupTopologies builds what the datapath cases measure: the load
// generator, the limits, the Docker and overlay references, bpfnet's
// instance and (DOCKERD) a dockerd, whose failure is reported, not fatal.
func (h *harness) setupTopologies(t *topologies) (ddErr, err error) {
	if err := h.buildLoadgen(); err != nil {
		return nil, err
	}

	fmt.Fprintln(os.Stderr, "bench: building topologies")
	if t.lim, err = setupLimits(h); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if t.docker, err = setupDockerRef(h); err != nil {
		return nil, fmt.Errorf("docker reference: %w", err)
	}
	if t.overlay, err = setupOverlayRef(h); err != nil {
		return nil, fmt.Errorf("overlay reference: %w", err)
	}
	t.bpf = setupBpfnet(h)
	if t.bpf.status != "" {
		fmt.Fprintf(os.Stderr, "bench: bpfnet %s: %s\n", t.bpf.status, t.bpf.reason)
	}
	if h.cfg.dockerd {
		fmt.Fprintln(os.Stderr, "bench: starting a private dockerd")
		if t.dd, ddErr = setupDockerd(h); ddErr != nil {
			fmt.Fprintln(os.Stderr, "bench: dockerd:", ddErr)
		}
	}
	return ddErr, nil
}

// buildLoadgen builds ./bench/loadgen into the run's temp dir, once.
func (h *harness) buildLoadgen() error {
	if h.loadgen != "" {
		return nil
	}
	bin := filepath.Join(h.s.tmp, "loadgen")
	build := exec.CommandContext(h.s.ctx, "go", "build", "-o", bin, "./bench/loadgen")
	build.Dir, build.Env = h.repo, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./bench/loadgen: %w: %s", err, out)
	}
	h.loadgen = bin
	return nil
}

// fitDurations picks the run length: 3 s per run (iperf3: whole seconds),
// shortened, not below 1 s, when the planned runs would not fit the time
// budget left after setup (QUICK: 150 s in all, a margin under 3 minutes;
// full: 14 minutes). With every system built, full runs come out near
// 2.3 s: 3 s runs of the whole matrix (about 340 runs) would take 17 minutes.
func (h *harness) fitDurations(cases []*benchCase) {
	if h.cfg.fixedRun > 0 {
		h.runDur = h.cfg.fixedRun
		h.tputSecs = max(1, int(h.cfg.fixedRun.Round(time.Second)/time.Second))
		return
	}
	rrcrr, tput := plannedRuns(cases)
	rrcrr, tput = rrcrr*h.cfg.rounds, tput*h.cfg.rounds
	// Fixed costs per run (process start, conntrack flush, iperf3's
	// handshake; measured: about 60 ms a run) and for preparing the scaling
	// cases, with a margin for a slower machine.
	const perRun, perTput = 100 * time.Millisecond, 500 * time.Millisecond
	prepare := time.Duration(h.cfg.publishReps)*2*time.Second + 10*time.Second
	// QUICK's 3 minutes hold everything; a full run's 14 minutes are the
	// datapath's, and the control-plane case (minutes of filling to 5,000
	// containers) comes on top rather than shortening every run.
	if h.cfg.quick {
		for _, c := range cases {
			prepare += c.extra
		}
	}
	left := h.cfg.budget - time.Since(h.started) - prepare -
		time.Duration(rrcrr)*perRun - time.Duration(tput)*perTput
	d := h.cfg.maxRun
	if n := rrcrr + tput; n > 0 {
		d = min(d, left/time.Duration(n))
	}
	d = max(d, h.cfg.minRun).Round(100 * time.Millisecond)
	h.runDur = d
	h.tputSecs = max(1, int(d/time.Second)) // never longer than a run
}

// missingTools: the control-plane case alone needs only ip and go.
func missingTools(dockerd, datapath bool) []string {
	tools := []string{"ip", "go"}
	if datapath {
		tools = append(tools, "nsenter", "taskset", "ss", "sysctl", "iptables", "iptables-restore", "conntrack", "iperf3")
	}
	if dockerd {
		tools = append(tools, "dockerd", "docker")
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	return missing
}

// repoRoot finds the module root of github.com/bpfnet/bpfnet from the
// working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/bpfnet/bpfnet") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the bpfnet repository (no go.mod of github.com/bpfnet/bpfnet above %s)", dir)
		}
		dir = parent
	}
}
