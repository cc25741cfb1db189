package e2e

import (
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// Listings filter as Docker's: names and IDs by regular expression (a
// substring, or anchored with ^ and $), containers by network and by
// published or exposed port; --name names a container as the argument does.
func TestListFilters(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.81.0.0/24", "app")
	in.MustRun("network", "create", "--subnet", "10.82.0.0/24", "app2")
	in.MustRun("network", "create", "--subnet", "10.83.0.0/24", "backend")
	in.MustRun("container", "create", "--name", "web", "--network", "app", "-p", "127.0.0.1:18081:80")
	in.MustRun("container", "create", "db", "--network", "backend", "-p", "127.0.0.1:15353:53/udp", "--expose", "7000")
	db := in.Inspect("db")

	lines := func(args ...string) string {
		return strings.Join(strings.Fields(in.MustRun(args...)), " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls", "-f", "name=app"}, "app app2"},
		{[]string{"network", "ls", "-f", "name=^app$"}, "app"},
		{[]string{"network", "ls", "-f", "name=end"}, "backend"},
		{[]string{"network", "ls", "-f", "name=^app$", "-f", "name=backend"}, "app backend"},
		{[]string{"container", "ls", "-a", "-f", "network=app"}, "web"},
		{[]string{"container", "ls", "-f", "network=backend", "-f", "network=app"}, "db web"},
		{[]string{"container", "ls", "-f", "publish=80"}, "web"},
		{[]string{"container", "ls", "-f", "publish=53/udp"}, "db"},
		{[]string{"container", "ls", "-f", "publish=53"}, ""},
		{[]string{"container", "ls", "-f", "expose=50-60/udp"}, "db"},
		{[]string{"container", "ls", "-f", "expose=7000"}, "db"},
		{[]string{"container", "ls", "-f", "publish=7000"}, ""},
		{[]string{"container", "ls", "-f", "name=^w"}, "web"},
		{[]string{"container", "ls", "-f", "id=" + db.Id[:10]}, "db"},
		{[]string{"container", "ls", "-f", "name=web", "-f", "network=backend"}, ""},
	} {
		args := append(tt.args, "--format", "{{.Names}}")
		if tt.args[0] == "network" {
			args = append(tt.args, "--format", "{{.Name}}")
		}
		if got := lines(args...); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.args, got, tt.want)
		}
	}
	in.MustFail("invalid filter 'name=[': error parsing regexp", "network", "ls", "-f", "name=[")
	in.MustFail("invalid filter 'image'", "container", "ls", "-f", "image=x")
	in.MustFail("conflicting options: --name a and the name argument b", "container", "create", "--name", "a", "b")
	in.MustFail("requires a container name", "container", "create", "--network", "app")
}

// network prune --filter: label=, label!= and until=, with unused
// networks only.
func TestNetworkPruneFilters(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.91.0.0/24", "--label", "keep", "kept")
	in.MustRun("network", "create", "--subnet", "10.92.0.0/24", "--label", "tier=x", "tiered")
	in.MustRun("network", "create", "--subnet", "10.93.0.0/24", "plain")
	in.MustRun("network", "create", "--subnet", "10.94.0.0/24", "--label", "tier=x", "used")
	in.MustRun("container", "create", "user", "--network", "used")

	prune := func(filters ...string) string {
		args := []string{"network", "prune", "-f"}
		for _, f := range filters {
			args = append(args, "--filter", f)
		}
		return strings.Join(strings.Fields(in.MustRun(args...)), " ")
	}
	if got := prune("until=1h"); got != "" {
		t.Errorf("until=1h removed %q; every network is newer", got)
	}
	if got := prune("until=2000-01-01"); got != "" {
		t.Errorf("until=2000-01-01 removed %q", got)
	}
	if got := prune("label=tier=x"); got != "Deleted Networks: tiered" {
		t.Errorf("label=tier=x: %q", got)
	}
	if got := prune("label!=keep", "until=0s"); got != "Deleted Networks: plain" {
		t.Errorf("label!=keep until=0s: %q", got)
	}
	in.MustFail("invalid filter 'until=soon'", "network", "prune", "-f", "--filter", "until=soon")
	in.MustFail("invalid filter 'name'", "network", "prune", "-f", "--filter", "name=kept")
	if got := in.Names("network"); strings.Join(got, " ") != "bridge host kept none used" {
		t.Errorf("left after the prunes: %v", got)
	}
}
