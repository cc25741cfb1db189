package main

import (
	"fmt"
	"strings"
)

// caseSelection is -cases / BENCH_CASES: a comma-separated list of case ids
// or their families ("published" is published-n1, -n1000 and -n10000).
// Empty selects every case.
type caseSelection []string

// parseSelection checks every entry against the known case ids, so a typo
// fails before minutes of setup rather than after.
func parseSelection(spec string, known []string) (caseSelection, error) {
	var sel caseSelection
	for _, e := range strings.Split(spec, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		found := false
		for _, id := range known {
			found = found || matchesCase(e, id)
		}
		if !found {
			return nil, fmt.Errorf("unknown case %q in -cases/BENCH_CASES (cases: %s)", e, strings.Join(known, ", "))
		}
		sel = append(sel, e)
	}
	return sel, nil
}

// matchesCase: the id itself, or the family before a "-".
func matchesCase(entry, id string) bool {
	return id == entry || strings.HasPrefix(id, entry+"-")
}

func (sel caseSelection) has(id string) bool {
	if len(sel) == 0 {
		return true
	}
	for _, e := range sel {
		if matchesCase(e, id) {
			return true
		}
	}
	return false
}

// hasAny tells whether any of ids is selected (whether their shared
// topologies need building at all).
func (sel caseSelection) hasAny(ids []string) bool {
	for _, id := range ids {
		if sel.has(id) {
			return true
		}
	}
	return false
}

func (sel caseSelection) filter(cases []*benchCase) []*benchCase {
	var out []*benchCase
	for _, c := range cases {
		if sel.has(c.id) {
			out = append(out, c)
		}
	}
	return out
}
