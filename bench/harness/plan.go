package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// system is one dataplane as one case sees it.
type system struct {
	name    string
	status  string // "" when measurable; else "not built", "not yet built", "unavailable"
	reason  string
	target  *target
	metrics []metric
}

func (s *system) ok() bool { return s.status == "" }

// sys makes a system from a target function's answer: errNotYetBuilt and
// other errors become the cell text, not a failed run.
func sys(name string, t *target, err error, ms ...metric) *system {
	switch {
	case err == nil:
		return &system{name: name, target: t, metrics: ms}
	case err == errNotYetBuilt:
		return &system{name: name, status: "not yet built", metrics: ms}
	default:
		return &system{name: name, status: "unavailable", reason: err.Error(), metrics: ms}
	}
}

// ratioDef is a paired ratio num/den of one metric, computed round by round.
// A goal > 0 prints PASS/MISS beside it.
type ratioDef struct {
	metric   metric
	num, den string
	goal     float64
}

// benchCase is one scenario: systems measured alternately, round by round.
type benchCase struct {
	id, title string
	systems   []*system
	ratios    []ratioDef
	prepare   func(*caseResult) error // runs before the rounds (load N rules, time publishing)
	after     func(*caseResult)       // runs after them (sanity checks)
	extra     time.Duration           // what prepare takes beyond setup's margin (QUICK's budget counts it)
}

// ---- results (also the JSON) ----

type runResult struct {
	Round int     `json:"round"`
	Value float64 `json:"value"`
	Error string  `json:"error,omitempty"`
}

type stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

type cellResult struct {
	System string      `json:"system"`
	Metric metric      `json:"metric"`
	Unit   string      `json:"unit"`
	Status string      `json:"status"` // ok, not built, not yet built, unavailable, failed
	Reason string      `json:"reason,omitempty"`
	Runs   []runResult `json:"runs,omitempty"`
	Stats  *stats      `json:"stats,omitempty"`
}

type ratioResult struct {
	Metric  metric    `json:"metric"`
	Num     string    `json:"num"`
	Den     string    `json:"den"`
	Goal    float64   `json:"goal,omitempty"`
	Values  []float64 `json:"values,omitempty"`
	Stats   *stats    `json:"stats,omitempty"`
	Verdict string    `json:"verdict"` // PASS, MISS, or why there is none
}

type publishResult struct {
	System string    `json:"system"`
	Method string    `json:"method"`
	MS     []float64 `json:"ms,omitempty"`
	Stats  *stats    `json:"stats,omitempty"`
	Status string    `json:"status"`
}

type caseResult struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Error   string          `json:"error,omitempty"`
	Cells   []*cellResult   `json:"cells"`
	Ratios  []*ratioResult  `json:"ratios,omitempty"`
	Publish []publishResult `json:"publish,omitempty"`
	Checks  []string        `json:"checks,omitempty"`
	// The control-plane case (controlplane.go) times commands, not traffic.
	ControlPlane *cpResult `json:"control_plane,omitempty"`
}

func (c *caseResult) cell(system string, m metric) *cellResult {
	for _, x := range c.Cells {
		if x.System == system && x.Metric == m {
			return x
		}
	}
	return nil
}

// ---- the run ----

var metricOrder = []metric{mRR, mCRR, mTput, mUDP}

// plannedRuns counts the measurements cases will make per round.
func plannedRuns(cases []*benchCase) (rrcrr, tput int) {
	for _, c := range cases {
		for _, s := range c.systems {
			if !s.ok() {
				continue
			}
			for _, m := range s.metrics {
				if m == mTput {
					tput++
				} else {
					rrcrr++
				}
			}
		}
	}
	return rrcrr, tput
}

// runCases measures every case: per round, per metric, each system once, in
// an order rotated every round (A B C, B C A, ...), so drift on this shared
// machine spreads over all systems alike and each round yields one pair.
func (h *harness) runCases(cases []*benchCase) ([]*caseResult, error) {
	rrcrr, tput := plannedRuns(cases)
	h.prog = progress{total: (rrcrr + tput) * h.cfg.rounds, start: time.Now(), tty: isTerminal(os.Stderr)}
	var results []*caseResult
	for _, c := range cases {
		res := &caseResult{ID: c.id, Title: c.title}
		results = append(results, res)
		for _, s := range c.systems {
			for _, m := range s.metrics {
				cell := &cellResult{System: s.name, Metric: m, Unit: m.unit(), Status: "ok"}
				if !s.ok() {
					cell.Status, cell.Reason = s.status, s.reason
				}
				res.Cells = append(res.Cells, cell)
			}
		}
		if c.prepare != nil {
			h.prog.note(fmt.Sprintf("%s: preparing", c.id))
			if err := c.prepare(res); err != nil {
				if h.s.ctx.Err() != nil {
					return results, h.s.ctx.Err()
				}
				res.Error = err.Error()
				for _, cell := range res.Cells {
					if cell.Status == "ok" {
						cell.Status, cell.Reason = "failed", "prepare: "+err.Error()
					}
				}
				continue
			}
		}
		for r := 0; r < h.cfg.rounds; r++ {
			for _, m := range metricOrder {
				var order []*system
				for _, s := range c.systems {
					if s.ok() && hasMetric(s, m) {
						order = append(order, s)
					}
				}
				for i := range order {
					s := order[(i+r)%len(order)]
					if err := h.s.ctx.Err(); err != nil {
						return results, err
					}
					v, err := h.measure(s.target, m)
					cell := res.cell(s.name, m)
					rr := runResult{Round: r, Value: v}
					if err != nil {
						rr.Error = err.Error()
					}
					cell.Runs = append(cell.Runs, rr)
					h.prog.step(c.id, s.name, m, v, err)
				}
			}
		}
		finish(c, res)
		if c.after != nil {
			c.after(res)
		}
	}
	h.prog.done()
	return results, nil
}

func hasMetric(s *system, m metric) bool {
	for _, x := range s.metrics {
		if x == m {
			return true
		}
	}
	return false
}

// finish computes each cell's statistics and the case's paired ratios.
func finish(c *benchCase, res *caseResult) {
	for _, cell := range res.Cells {
		if cell.Status != "ok" {
			continue
		}
		var vals []float64
		var errs []string
		for _, r := range cell.Runs {
			if r.Error == "" {
				vals = append(vals, r.Value)
			} else {
				errs = append(errs, r.Error)
			}
		}
		cell.Stats = summarize(vals)
		if cell.Stats == nil && len(errs) > 0 {
			cell.Status, cell.Reason = "failed", errs[0]
		}
	}
	for _, rd := range c.ratios {
		rr := &ratioResult{Metric: rd.metric, Num: rd.num, Den: rd.den, Goal: rd.goal}
		res.Ratios = append(res.Ratios, rr)
		num, den := res.cell(rd.num, rd.metric), res.cell(rd.den, rd.metric)
		switch {
		case num == nil || den == nil:
			rr.Verdict = "no such cell"
			continue
		case num.Status != "ok":
			rr.Verdict = num.Status
			continue
		case den.Status != "ok":
			rr.Verdict = rd.den + " " + den.Status
			continue
		}
		byRound := map[int]float64{}
		for _, r := range den.Runs {
			if r.Error == "" && r.Value > 0 {
				byRound[r.Round] = r.Value
			}
		}
		for _, r := range num.Runs {
			if d, ok := byRound[r.Round]; ok && r.Error == "" {
				rr.Values = append(rr.Values, r.Value/d)
			}
		}
		rr.Stats = summarize(rr.Values)
		rr.Verdict = verdict(rr.Stats, rd.goal, true)
	}
}

// verdict compares a median with a goal: atLeast for ">= goal" goals, else
// "<= goal". No goal means context only.
func verdict(st *stats, goal float64, atLeast bool) string {
	switch {
	case st == nil:
		return "no data"
	case goal == 0:
		return ""
	case atLeast && st.Median >= goal, !atLeast && st.Median <= goal:
		return "PASS"
	}
	return "MISS"
}

func summarize(v []float64) *stats {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return &stats{N: len(s), Min: s[0], Median: median(s), Max: s[len(s)-1]}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// ---- progress line ----

type progress struct {
	total, done_ int
	start        time.Time
	tty          bool
}

func (p *progress) step(caseID, system string, m metric, v float64, err error) {
	p.done_++
	el := time.Since(p.start)
	left := "?"
	if p.done_ > 0 {
		left = fmtDur(time.Duration(float64(el) / float64(p.done_) * float64(p.total-p.done_)))
	}
	val := fmtValue(m, v)
	if err != nil {
		val = "ERROR " + truncate(err.Error(), 60)
	}
	line := fmt.Sprintf("[%3d/%d] %s elapsed, ~%s left | %s %s %s: %s",
		p.done_, p.total, fmtDur(el), left, caseID, m, system, val)
	p.print(line)
}

func (p *progress) note(s string) { p.print(fmt.Sprintf("[%3d/%d] %s", p.done_, p.total, s)) }

func (p *progress) print(line string) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(os.Stderr, line)
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(os.Stderr)
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func fmtValue(m metric, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if m == mTput {
		return fmt.Sprintf("%.2f", v)
	}
	return thousands(v)
}

// thousands formats v rounded to an integer with "," separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
