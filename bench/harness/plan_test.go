package main

import (
	"strings"
	"testing"
)

func TestSummarizeMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stats
	}{
		{[]float64{3, 1, 2}, stats{N: 3, Min: 1, Median: 2, Max: 3}},
		{[]float64{4, 1, 3, 2}, stats{N: 4, Min: 1, Median: 2.5, Max: 4}},
	} {
		if got := summarize(tc.in); got == nil || *got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if summarize(nil) != nil {
		t.Error("summarize(nil) should be nil")
	}
}

// Ratios pair runs of the same round only; a failed run drops its round.
func TestFinishPairsRounds(t *testing.T) {
	c := &benchCase{ratios: []ratioDef{{mRR, "a", "b", 1.5}, {mRR, "b", "a", 0}, {mRR, "c", "a", 1}}}
	res := &caseResult{Cells: []*cellResult{
		{System: "a", Metric: mRR, Status: "ok", Runs: []runResult{{Round: 0, Value: 20}, {Round: 1, Value: 30}, {Round: 2, Value: 40}}},
		{System: "b", Metric: mRR, Status: "ok", Runs: []runResult{{Round: 0, Value: 10}, {Round: 1, Error: "boom"}, {Round: 2, Value: 20}}},
		{System: "c", Metric: mRR, Status: "not built"},
	}}
	finish(c, res)
	ab := res.Ratios[0]
	if len(ab.Values) != 2 || ab.Stats.Median != 2 || ab.Verdict != "PASS" {
		t.Errorf("a/b = %+v %+v, want 2 pairs, median 2, PASS", ab, ab.Stats)
	}
	if ba := res.Ratios[1]; ba.Verdict != "" || ba.Stats.Median != 0.5 {
		t.Errorf("b/a = %+v, want context ratio 0.5", ba)
	}
	if ca := res.Ratios[2]; ca.Verdict != "not built" {
		t.Errorf("c/a verdict = %q, want the missing system's status", ca.Verdict)
	}
	if st := res.Cells[1].Stats; st.N != 2 {
		t.Errorf("b stats over %d runs, want 2 (the failed run left out)", st.N)
	}
}

func TestVerdict(t *testing.T) {
	st := &stats{Median: 4}
	if v := verdict(st, 5, false); v != "PASS" {
		t.Errorf("4 <= 5: %s", v)
	}
	if v := verdict(st, 5, true); v != "MISS" {
		t.Errorf("4 >= 5: %s", v)
	}
	if v := verdict(nil, 5, true); v != "no data" {
		t.Errorf("nil: %s", v)
	}
}

func TestLeftoverPID(t *testing.T) {
	for name, want := range map[string]int{"bnb-123-dhost": 123, "bnb-9-x-y": 9, "bnb-abc-x": 0, "lan": 0, "bnb-55": 0} {
		got, ok := leftoverPID(name)
		if (want != 0) != ok || got != want && ok {
			t.Errorf("leftoverPID(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -12345: "-12,345"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// The ruleset has Docker's fixed chains once and three rules per published
// port, the measured port last.
func TestDockerRuleset(t *testing.T) {
	rs := dockerRuleset(3)
	count := func(sub string) int { return strings.Count(rs, sub) }
	if n := count("-j DNAT"); n != 3 {
		t.Errorf("%d DNAT rules, want 3", n)
	}
	if n := count("-o docker0 -p tcp -m tcp --dport 7000 -j ACCEPT"); n != 3 {
		t.Errorf("%d filter DOCKER ACCEPT rules, want 3", n)
	}
	if n := count("--dport 7000 -j MASQUERADE"); n != 3 {
		t.Errorf("%d hairpin MASQUERADE rules, want 3", n)
	}
	lines := strings.Split(rs, "\n")
	var lastDNAT string
	for _, l := range lines {
		if strings.Contains(l, "-j DNAT") {
			lastDNAT = l
		}
	}
	if !strings.Contains(lastDNAT, "--dport 8080 ") || !strings.Contains(lastDNAT, dockerC1+":7000") {
		t.Errorf("last DNAT rule %q, want the measured port 8080 -> %s:7000", lastDNAT, dockerC1)
	}
	for _, want := range []string{
		":FORWARD DROP [0:0]", "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
		"-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A FORWARD -o docker0 -j DOCKER", "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
		"-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
		"-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
	} {
		if !strings.Contains(rs, want+"\n") {
			t.Errorf("ruleset lacks %q", want)
		}
	}
	if strings.Count(rs, "COMMIT") != 2 {
		t.Error("want two tables (nat, filter), each committed")
	}
}
