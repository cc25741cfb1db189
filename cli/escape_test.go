package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestShown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web", "web"},
		{"my net", "my net"},
		{"réseau-ü", "réseau-ü"},
		{"evil\x1b[2J", `"evil\x1b[2J"`},
		{"tab\there", `"tab\there"`},
		{"new\nline", `"new\nline"`},
		{"del\x7f", `"del\x7f"`},
		{"c1\u009b31m", `"c1\u009b31m"`},
		{"bidi\u202egnp.exe", `"bidi\u202egnp.exe"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
	}
	for _, tt := range tests {
		if got := shown(tt.in); got != tt.want {
			t.Errorf("shown(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestShownMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"network with name web already exists", "network with name web already exists"},
		{"the kernel differs:\n  one\n\ttwo", "the kernel differs:\n  one\n\ttwo"},
		{"network with name \x1b]0;owned\x07 already exists", `network with name \x1b]0;owned\a already exists`},
		{"c1 \u009b and \xff and \ufffd", `c1 \u009b and \xff and ` + "\ufffd"},
	}
	for _, tt := range tests {
		got := shownMessage(tt.in)
		if got != tt.want {
			t.Errorf("shownMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.ContainsAny(got, "\x1b\x07\x7f\u009b") {
			t.Errorf("shownMessage(%q) = %q still holds a control character", tt.in, got)
		}
	}
}

// encoding/json escapes C0 controls itself; escapeJSONControls adds DEL
// and C1, and the result decodes to the very same string.
func TestJSONHasNoRawControls(t *testing.T) {
	name := "a\x1b[31mb\x7fc\u009b0md\u0085e\u00a0f"
	var buf bytes.Buffer
	if err := writeJSON(&buf, map[string]string{"Name": name}); err != nil {
		t.Fatal(err)
	}
	for _, r := range buf.String() {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			t.Errorf("raw control %U in %q", r, buf.String())
		}
	}
	var back map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["Name"] != name {
		t.Errorf("decoded %q, %v; want %q", back["Name"], err, name)
	}
}
