package ctl

import "testing"

func TestParseKeyValues(t *testing.T) {
	got, err := ParseKeyValues("label", []string{"a=b", "c", "d=e=f"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "b", "c": "", "d": "e=f"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got[%q] = %q, want %q", k, got[k], v)
		}
	}
	if _, err := ParseKeyValues("label", []string{"=x"}); err == nil {
		t.Error("empty key accepted")
	}
}
