package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything one run found; it is also the JSON file.
type report struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Mode     string            `json:"mode"` // quick or full
	Machine  map[string]string `json:"machine"`
	Settings struct {
		Rounds      int     `json:"rounds"`
		RunSeconds  float64 `json:"run_seconds"`
		TputSeconds int     `json:"tput_seconds"`
		CPU         int     `json:"cpu"`
		PublishReps int     `json:"publish_reps"`
	} `json:"settings"`
	Systems map[string]string `json:"systems"` // status of systems that may be missing
	Cases   []*caseResult     `json:"cases"`
	Goals   []goalResult      `json:"goals"`
	Scaling []scalingPoint    `json:"scaling"`
	Memory  struct {
		Bpfnet       *bpfnetMemory    `json:"bpfnet,omitempty"`
		BpfnetStatus string           `json:"bpfnet_status"`
		Dockerd      map[string]int64 `json:"dockerd_kib,omitempty"`
	} `json:"memory"`
}

type goalResult struct {
	Name    string  `json:"name"`
	Goal    string  `json:"goal"`
	Value   float64 `json:"value,omitempty"`
	Verdict string  `json:"verdict"`
}

type scalingPoint struct {
	N      int    `json:"n"`
	System string `json:"system"`
	Stats  *stats `json:"stats,omitempty"`
	Status string `json:"status"`
	// Milliseconds to publish one more port at this N (median): docker's is
	// the two `iptables -A`, bpfnet's the whole CLI call; PublishSeqMS is
	// dockerd's -C/-A sequence; PublishInProcMS bpfnet's operation in a
	// process that is already running.
	PublishMS       float64 `json:"publish_ms,omitempty"`
	PublishSeqMS    float64 `json:"publish_dockerd_sequence_ms,omitempty"`
	PublishInProcMS float64 `json:"publish_in_process_ms,omitempty"`
}

func (h *harness) newReport(t *topologies, cases []*caseResult, ddErr error) *report {
	r := &report{Started: h.started, Mode: "full", Cases: cases, Systems: map[string]string{}}
	if h.cfg.quick {
		r.Mode = "quick"
	}
	r.Settings.Rounds, r.Settings.RunSeconds = h.cfg.rounds, h.runDur.Seconds()
	r.Settings.TputSeconds, r.Settings.CPU, r.Settings.PublishReps = h.tputSecs, h.cfg.cpu, h.cfg.publishReps
	r.Machine = machineInfo(h)
	r.Memory.BpfnetStatus = "not measured"
	if t.docker == nil { // only the control-plane case was selected
		r.Systems["bpfnet"], r.Systems["docker-proxy"], r.Systems["dockerd"] = "not set up", "not set up", "not set up"
		return r
	}
	r.Systems["bpfnet"] = statusText(t.bpf.status, t.bpf.reason)
	r.Systems["docker-proxy"] = statusText(map[bool]string{true: "", false: "unavailable"}[t.docker.proxy != nil], t.docker.proxyErr)
	switch {
	case !h.cfg.dockerd:
		r.Systems["dockerd"] = "not requested (DOCKERD=1)"
	case ddErr != nil:
		r.Systems["dockerd"] = "unavailable: " + ddErr.Error()
	default:
		r.Systems["dockerd"] = "ok: " + t.dd.version
	}
	if t.bpf.status != "" {
		r.Memory.BpfnetStatus = t.bpf.status
	}
	return r
}

func statusText(status, reason string) string {
	switch {
	case status == "":
		return "ok"
	case reason == "":
		return status
	}
	return status + ": " + reason
}

func machineInfo(h *harness) map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu_model"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := h.s.run("iptables", "--version"); err == nil {
		m["iptables"] = strings.TrimSpace(out)
	}
	if out, err := h.s.run("iperf3", "--version"); err == nil {
		m["iperf3"] = firstLine(out)
	}
	// Load tells how busy the shared machine was: other builds on the
	// measuring CPU are the main source of noise here.
	m["loadavg_start"] = h.loadStart
	if hn, err := os.Hostname(); err == nil {
		m["hostname"] = hn
	}
	return m
}

// finish derives the goal list and the scaling curve from the cases.
func (r *report) finish() {
	r.Finished = time.Now()
	r.Machine["loadavg_end"] = loadavg()
	byID := map[string]*caseResult{}
	for _, c := range r.Cases {
		byID[c.ID] = c
		for _, rt := range c.Ratios {
			if rt.Goal == 0 {
				continue
			}
			g := goalResult{Name: fmt.Sprintf("%s %s %s/%s", c.ID, rt.Metric, rt.Num, rt.Den),
				Goal: fmt.Sprintf(">= %.2fx", rt.Goal), Verdict: rt.Verdict}
			if rt.Stats != nil {
				g.Value = rt.Stats.Median
			}
			r.Goals = append(r.Goals, g)
		}
	}
	for _, n := range scalingN {
		c := byID[fmt.Sprintf("published-n%d", n)]
		if c == nil {
			continue
		}
		for _, sysName := range []string{"docker", "bpfnet"} {
			p := scalingPoint{N: n, System: sysName, Status: "missing"}
			if cell := c.cell(sysName, mCRR); cell != nil {
				p.Stats, p.Status = cell.Stats, cell.Status
			}
			for _, pr := range c.Publish {
				if pr.System != sysName || pr.Stats == nil {
					continue
				}
				switch {
				case strings.HasPrefix(pr.Method, "dockerd"):
					p.PublishSeqMS = pr.Stats.Median
				case pr.Method == pubInProc:
					p.PublishInProcMS = pr.Stats.Median
				case pr.Method == pubStartup || pr.Method == pubSyncFloor:
				default:
					p.PublishMS = pr.Stats.Median
				}
			}
			r.Scaling = append(r.Scaling, p)
		}
	}
	// bpfnet at N=10,000 within 10% of N=1. The two rulesets cannot be
	// paired round by round, so each side is first divided, round by round,
	// by the veth pair's rate measured in the same rounds (driftRef); the
	// goal is the ratio of those medians. Raw medians are in the name.
	g := goalResult{Name: "published crr bpfnet N=10,000 / N=1 (each / veth)", Goal: ">= 0.90x", Verdict: "no data"}
	norm := func(id string) (*ratioResult, *cellResult) {
		c := byID[id]
		if c == nil {
			return nil, nil
		}
		for _, rt := range c.Ratios {
			if rt.Num == "bpfnet" && rt.Den == "veth" && rt.Metric == mCRR {
				return rt, c.cell("bpfnet", mCRR)
			}
		}
		return nil, nil
	}
	r1, c1 := norm("published-n1")
	r2, c2 := norm("published-n10000")
	switch {
	case r1 == nil || r2 == nil:
	case r1.Stats == nil || r2.Stats == nil:
		g.Verdict = r1.Verdict
		if r1.Stats != nil {
			g.Verdict = r2.Verdict
		}
	default:
		g.Value = r2.Stats.Median / r1.Stats.Median
		g.Verdict = verdict(&stats{Median: g.Value}, 0.9, true)
		if c1.Stats != nil && c2.Stats != nil {
			g.Name += fmt.Sprintf("; raw medians %s / %s", thousands(c2.Stats.Median), thousands(c1.Stats.Median))
		}
	}
	// Only when the published cases ran (-cases may leave them out).
	published := byID["published-n1"] != nil || byID["published-n10000"] != nil
	if published {
		r.Goals = append(r.Goals, g)
	}

	// The 5 ms goal is judged on the operation, as dockerd's publish is an
	// operation of a running daemon; the CLI call adds a process start,
	// reported beside it.
	for _, pub := range []struct{ method, name, goal string }{
		{pubInProc, "publish one port at N=10,000, bpfnet operation in process, median ms", "<= 5 ms"},
		{pubCLI, "publish one port at N=10,000, bpfnet CLI call, median ms", "(info)"},
		{pubStartup, "bpfnet CLI process start alone (--help), median ms", "(info)"},
		{pubSyncFloor, "two fdatasynced 4 KiB writes in the store's directory (a commit's floor), median ms", "(info)"},
	} {
		if !published {
			break
		}
		g = goalResult{Name: pub.name, Goal: pub.goal, Verdict: "no data"}
		if c := byID["published-n10000"]; c != nil {
			for _, pr := range c.Publish {
				if pr.System != "bpfnet" || pr.Method != pub.method {
					continue
				}
				g.Verdict = pr.Status
				if pr.Stats != nil && pr.Status == "ok" {
					g.Value = pr.Stats.Median
					g.Verdict = "info"
					if pub.method == pubInProc {
						g.Verdict = verdict(pr.Stats, 5, false)
					}
				}
			}
		}
		r.Goals = append(r.Goals, g)
	}
	r.Goals = append(r.Goals, controlPlaneGoals(byID[cpCaseID])...)
}

// printTable writes the human summary: every cell, the ratios, the publish
// timings, the goals.
func (r *report) printTable(out io.Writer) {
	fmt.Fprintf(out, "\nbpfnet benchmark, %s mode, %s, kernel %s, %s CPUs (%s)\n",
		r.Mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Machine["kernel"], r.Machine["cpus"], r.Machine["cpu_model"])
	fmt.Fprintf(out, "%d paired rounds, %.1f s per rr/crr run, %d s per iperf3 run, client and server on CPU %d\n",
		r.Settings.Rounds, r.Settings.RunSeconds, r.Settings.TputSeconds, r.Settings.CPU)
	fmt.Fprintf(out, "load average %s at the start, %s at the end; took %s\n\n",
		r.Machine["loadavg_start"], r.Machine["loadavg_end"], r.Finished.Sub(r.Started).Round(time.Second))

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\tmetric\tsystem\tmin\tmedian\tmax\truns\t")
	for _, c := range r.Cases {
		for _, cell := range c.Cells {
			if cell.Stats == nil {
				fmt.Fprintf(w, "%s\t%s\t%s\t\t%s\t\t\t\n", c.ID, cell.Metric, cell.System, cell.Status)
				continue
			}
			st := cell.Stats
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", c.ID, cell.Metric, cell.System,
				fmtValue(cell.Metric, st.Min), fmtValue(cell.Metric, st.Median), fmtValue(cell.Metric, st.Max), st.N)
		}
	}
	w.Flush()

	fmt.Fprintln(out, "\npaired ratios (median of per-round ratios)")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\tmetric\tratio\tmin\tmedian\tmax\tgoal\tverdict\t")
	for _, c := range r.Cases {
		for _, rt := range c.Ratios {
			goal := ""
			if rt.Goal > 0 {
				goal = fmt.Sprintf(">= %.2fx", rt.Goal)
			}
			if rt.Stats == nil {
				fmt.Fprintf(w, "%s\t%s\t%s/%s\t\t\t\t%s\t%s\t\n", c.ID, rt.Metric, rt.Num, rt.Den, goal, rt.Verdict)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s/%s\t%.3f\t%.3f\t%.3f\t%s\t%s\t\n", c.ID, rt.Metric, rt.Num, rt.Den,
				rt.Stats.Min, rt.Stats.Median, rt.Stats.Max, goal, rt.Verdict)
		}
	}
	w.Flush()

	fmt.Fprintln(out, "\npublishing one more port (ms)")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\tsystem\tmethod\tmin\tmedian\tmax\t")
	for _, c := range r.Cases {
		for _, p := range c.Publish {
			if p.Stats == nil {
				fmt.Fprintf(w, "%s\t%s\t%s\t\t%s\t\t\n", c.ID, p.System, p.Method, p.Status)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t\n", c.ID, p.System, p.Method, p.Stats.Min, p.Stats.Median, p.Stats.Max)
		}
	}
	w.Flush()

	for _, c := range r.Cases {
		printControlPlane(out, c)
	}

	fmt.Fprintln(out, "\ngoals")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, g := range r.Goals {
		val := ""
		if g.Value != 0 {
			val = fmt.Sprintf("%.3f", g.Value)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", g.Name, g.Goal, val, g.Verdict)
	}
	w.Flush()

	fmt.Fprintln(out, "\nsystems")
	for _, k := range []string{"bpfnet", "docker-proxy", "dockerd"} {
		fmt.Fprintf(out, "  %-13s %s\n", k, r.Systems[k])
	}
	if m := r.Memory.Bpfnet; m != nil {
		fmt.Fprintf(out, "  bpfnet memory: %d maps, %s bytes memlock; `%s` max RSS %s KiB\n",
			m.Maps, thousands(float64(m.MapBytes)), m.CLICommand, thousands(float64(m.CLIMaxRSSKiB)))
	} else {
		fmt.Fprintf(out, "  bpfnet memory: %s\n", r.Memory.BpfnetStatus)
	}
	for k, v := range r.Memory.Dockerd {
		fmt.Fprintf(out, "  dockerd memory: %s %s KiB\n", k, thousands(float64(v)))
	}
	fmt.Fprintln(out, "\nchecks")
	for _, c := range r.Cases {
		for _, ch := range c.Checks {
			fmt.Fprintf(out, "  %s: %s\n", c.ID, ch)
		}
		if c.Error != "" {
			fmt.Fprintf(out, "  %s: ERROR %s\n", c.ID, c.Error)
		}
	}
}

// write stores <UTC timestamp>.json and .svg in dir (relative to the repo).
func (r *report) write(dir, repo string) error {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, r.Started.UTC().Format("20060102T150405Z"))
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(base+".json", append(b, '\n')); err != nil {
		return err
	}
	if err := writeAtomic(base+".svg", []byte(r.svg())); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s.json and %s.svg\n", base, base)
	return nil
}

// writeAtomic writes through a .tmp file (ignored by git) and renames.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// redrawSVG rewrites the SVG beside an earlier run's JSON.
func redrawSVG(jsonPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	out := strings.TrimSuffix(jsonPath, ".json") + ".svg"
	if err := writeAtomic(out, []byte(r.svg())); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
