package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mistyped subcommand of a group is an error with cobra's suggestion,
// not the group's help and exit 0; the group alone still shows its help.
func TestUnknownSubcommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "craete", "x"}, "Error: unknown command: bpfnet network craete\n\nDid you mean this?\n\tcreate\n"},
		{[]string{"system", "chek"}, "unknown command: bpfnet system chek"},
		{[]string{"contianer", "ls"}, "Did you mean this?\n\tcontainer"},
	} {
		code, stdout, stderr := run(t, t.TempDir(), tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	code, stdout, _ := run(t, t.TempDir(), "network")
	if code != 0 || !strings.Contains(stdout, "Available Commands:") {
		t.Errorf("network alone: exit %d, stdout %q; want its help", code, stdout)
	}
}

// A flag that takes one value, given twice, is refused before the
// instance is touched; flags that collect values still collect.
func TestRepeatedSingleValueFlag(t *testing.T) {
	for _, args := range [][]string{
		{"network", "create", "--subnet", "10.1.0.0/24", "--subnet", "10.2.0.0/24", "n"},
		{"container", "create", "--network", "a", "--network", "b", "c"},
		{"--root", "/tmp/a", "--root", "/tmp/b", "network", "ls"},
	} {
		dir := t.TempDir()
		code, _, stderr := run(t, dir, args...)
		if code != 1 || !strings.Contains(stderr, "given twice") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1, given twice", args, code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "root")); !os.IsNotExist(err) {
			t.Errorf("%v: the root was made (%v)", args, err)
		}
	}
	cmd := NewRoot(Env{Getenv: func(string) string { return "" }})
	create, _, err := cmd.Find([]string{"network", "create"})
	if err != nil {
		t.Fatal(err)
	}
	if err := create.ParseFlags([]string{"--label", "a=1", "--label", "b=2", "-o", "icc=false", "-o", "mtu=1400"}); err != nil {
		t.Errorf("repeated --label and -o: %v", err)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := run(t, t.TempDir(), "--version")
	if code != 0 || !strings.HasPrefix(stdout, "bpfnet version "+release) {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, t.TempDir(), "version")
	if code != 0 || !strings.Contains(stdout, "Datapath:") || !strings.Contains(stdout, "Kernel:") {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// Docker's spellings of bpfnet's flags are the same flag: --net and
// --network given together are a repeat, --network-alias collects with --alias.
func TestDockerSpellings(t *testing.T) {
	code, _, stderr := run(t, t.TempDir(), "container", "create", "--net", "a", "--network", "b", "cc")
	if code != 1 || !strings.Contains(stderr, "given twice") {
		t.Errorf("--net a --network b: exit %d, %q", code, stderr)
	}
	cmd := NewRoot(Env{Getenv: func(string) string { return "" }})
	create, _, err := cmd.Find([]string{"container", "create"})
	if err != nil {
		t.Fatal(err)
	}
	if err := create.ParseFlags([]string{"--alias", "a", "--network-alias", "b", "--net", "n"}); err != nil {
		t.Fatal(err)
	}
	aliases, _ := create.Flags().GetStringArray("alias")
	network, _ := create.Flags().GetString("network")
	if strings.Join(aliases, ",") != "a,b" || network != "n" {
		t.Errorf("aliases %q, network %q; want a,b and n", aliases, network)
	}
}
