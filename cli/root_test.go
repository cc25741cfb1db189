package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the CLI in process against a root under dir that must not come
// into being for the refusals below.
func run(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		if k == "BPFNET_ROOT" {
			return filepath.Join(dir, "root")
		}
		return ""
	}}
	code := Main(env, args)
	return code, stdout.String(), stderr.String()
}

// A --conntrack-entries out of bounds, 0 included, is refused with the
// memory it would cost before the instance is touched: no root directory.
func TestConntrackEntriesBounds(t *testing.T) {
	tests := []struct {
		value string
		want  string
	}{
		{"0", "Error: invalid --conntrack-entries 0: want 1024 to 16777216 (106.5 kB to 1.7 GB; 13.6 MB at the default 131072; 104 bytes per entry)\n"},
		{"1023", "invalid --conntrack-entries 1023: want 1024 to 16777216"},
		{"-1", "invalid --conntrack-entries -1: want 1024 to 16777216"},
		{"16777217", "invalid --conntrack-entries 16777217 (1.7 GB): want"},
		{"100000000", "invalid --conntrack-entries 100000000 (10.4 GB): want"},
		{"4294967295", "invalid --conntrack-entries 4294967295 (446.7 GB): want"},
		{"4294967296", "invalid --conntrack-entries 4294967296 (446.7 GB): want"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		code, _, stderr := run(t, dir, "--conntrack-entries", tt.value, "network", "ls")
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("--conntrack-entries %s: exit %d, stderr %q; want exit 1 and %q", tt.value, code, stderr, tt.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "root")); !os.IsNotExist(err) {
			t.Errorf("--conntrack-entries %s: the root was made (%v)", tt.value, err)
		}
	}
}

func TestConntrackEntriesHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"network", "create", "--help"}, {"help", "system"}} {
		code, stdout, stderr := run(t, t.TempDir(), args...)
		want := "1024 to 16777216 entries of 104 bytes (default 131072: 13.6 MB)"
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, stdout, stderr, want)
		}
	}
}
