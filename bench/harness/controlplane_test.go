package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummarizeP90(t *testing.T) {
	v := make([]float64, 20)
	for i := range v {
		v[i] = float64(20 - i) // 20..1, unsorted on purpose
	}
	st := summarizeP90(v)
	if st == nil || st.P90 != 18 || st.Median != 10.5 || st.Min != 1 || st.Max != 20 || st.N != 20 {
		t.Errorf("summarizeP90(1..20) = %+v, want p90 18 (nearest rank), median 10.5", st)
	}
	if st := summarizeP90([]float64{7}); st == nil || st.P90 != 7 {
		t.Errorf("one sample: %+v, want p90 7", st)
	}
	if summarizeP90(nil) != nil {
		t.Error("no samples should give nil")
	}
}

func TestParseNs(t *testing.T) {
	ns, err := parseNs(" 10, 200 ")
	if err != nil || len(ns) != 2 || ns[0] != 10 || ns[1] != 200 {
		t.Errorf("parseNs(10,200) = %v, %v", ns, err)
	}
	for _, bad := range []string{"10,10", "200,10", "0", "ten", "10,,20"} {
		if _, err := parseNs(bad); err == nil {
			t.Errorf("parseNs(%q) accepted", bad)
		}
	}
	if ns, err := parseNs(""); err != nil || ns != nil {
		t.Errorf("empty: %v, %v; want the plan's default", ns, err)
	}
}

func TestCPPlan(t *testing.T) {
	full, quick := cpPlanFor(false, nil), cpPlanFor(true, nil)
	if got := full.Ns; len(got) != 3 || got[0] != 10 || got[2] != 5000 || full.Samples != 20 {
		t.Errorf("full plan %+v, want N 10, 1000, 5000 with 20 samples", full)
	}
	if quick.Ns[len(quick.Ns)-1] >= 1000 {
		t.Errorf("quick plan %+v fills too many containers for 3 minutes", quick)
	}
	// QUICK's budget takes the case's estimate: it must fit with room for
	// the datapath runs (150 s in all).
	if e := quick.estimate(); e.Seconds() > 60 || e.Seconds() < 20 {
		t.Errorf("quick estimate %v, want 20-60 s", e)
	}
	if got := cpPlanFor(true, []int{5, 50}).Ns; got[1] != 50 {
		t.Errorf("override ignored: %v", got)
	}
}

// point makes a cpPoint whose every sample of create and in-process inspect
// takes the given milliseconds.
func point(n int, create, rm, inspect float64) cpPoint {
	p := cpPoint{N: n}
	for _, o := range []struct {
		op, method string
		v          float64
	}{{cpCreate, cpCLI, create}, {cpRm, cpCLI, rm}, {cpInspect, cpInProc, inspect}} {
		ms := []float64{o.v, o.v, o.v}
		p.Ops = append(p.Ops, cpOp{Op: o.op, Method: o.method, MS: ms, Stats: summarizeP90(ms)})
	}
	return p
}

func TestControlPlaneGoals(t *testing.T) {
	res := &caseResult{ID: cpCaseID, ControlPlane: &cpResult{Status: "ok", Points: []cpPoint{
		point(10, 40, 70, 4), point(1000, 45, 80, 12), point(5000, 47, 90, 6),
	}, Reset: &cpReset{N: 5000, Seconds: 90, Status: "ok"}}}
	g := controlPlaneGoals(res)
	if len(g) != 4 {
		t.Fatalf("%d goals, want 4", len(g))
	}
	if g[0].Verdict != "PASS" || g[0].Value != 47.0/40 || !strings.Contains(g[0].Name, "N=5,000 / N=10") {
		t.Errorf("create goal %+v, want 1.175 PASS at N=5,000 / N=10", g[0])
	}
	if g[1].Verdict != "MISS" || g[1].Value != 12 || !strings.Contains(g[1].Name, "N=1,000") {
		t.Errorf("read-only goal %+v, want the slowest N (1,000, 12 ms) and MISS", g[1])
	}
	if g[2].Verdict != "info" || g[2].Value != 90.0/70 {
		t.Errorf("rm %+v", g[2])
	}
	if g[3].Value != 90 || g[3].Verdict != "info" {
		t.Errorf("reset %+v", g[3])
	}

	// Growing create cost misses; a case stopped early cannot pass.
	res.ControlPlane.Points[2] = point(5000, 50, 90, 6)
	if g := controlPlaneGoals(res); g[0].Verdict != "MISS" {
		t.Errorf("create 50/40 = 1.25: %s, want MISS", g[0].Verdict)
	}
	res.ControlPlane.Points = res.ControlPlane.Points[:1]
	res.ControlPlane.Points[0] = point(10, 40, 70, 4)
	res.ControlPlane.Status = "stopped: the case's cap passed"
	g = controlPlaneGoals(res)
	if g[0].Verdict == "PASS" || g[1].Verdict == "PASS" {
		t.Errorf("a stopped case passed: %+v", g[:2])
	}
	if g := controlPlaneGoals(&caseResult{ControlPlane: &cpResult{Status: "not built: no go"}}); g[0].Verdict != "not built: no go" {
		t.Errorf("not built: %+v", g[0])
	}
	if controlPlaneGoals(nil) != nil {
		t.Error("no case, no goals")
	}
}

func TestPrintControlPlane(t *testing.T) {
	var b bytes.Buffer
	printControlPlane(&b, &caseResult{ControlPlane: &cpResult{Network: "bridge", Samples: 3, Status: "ok",
		Points: []cpPoint{point(10, 40, 70, 4)}, Reset: &cpReset{N: 10, Seconds: 1.5, Status: "ok"}}})
	out := b.String()
	for _, want := range []string{"container create", cpInProc, "system reset of 10 containers: 1.5 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCaseSelection(t *testing.T) {
	known := append(datapathCaseIDs(), cpCaseID)
	sel, err := parseSelection("controlplane", known)
	if err != nil || !sel.has(cpCaseID) || sel.hasAny(datapathCaseIDs()) {
		t.Errorf("controlplane alone: %v %v, datapath selected %v", sel, err, sel.hasAny(datapathCaseIDs()))
	}
	sel, err = parseSelection("published, same-host", known)
	if err != nil || !sel.has("published-n10000") || !sel.has("same-host") || sel.has("overlay") || sel.has(cpCaseID) {
		t.Errorf("published family: %v %v", sel, err)
	}
	if _, err := parseSelection("publish", known); err == nil {
		t.Error(`"publish" is no case nor family, yet accepted`)
	}
	if sel, _ := parseSelection("", known); !sel.has("overlay") || !sel.has(cpCaseID) {
		t.Error("empty selection should select every case")
	}
	cases := []*benchCase{{id: "same-host"}, {id: "published-n1"}, {id: cpCaseID}}
	sel, _ = parseSelection("published-n1", known)
	if got := sel.filter(cases); len(got) != 1 || got[0].id != "published-n1" {
		t.Errorf("filter: %v", got)
	}
}
