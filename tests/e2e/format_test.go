package e2e

import (
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// --format takes Docker's Go templates on the listings and inspects, with
// Docker's field names and functions; an unknown field is an error, with
// or without rows to print, never a silent table.
func TestFormatTemplates(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "--label", "team=e2e", "app")
	in.MustRun("container", "create", "web", "--network", "app", "--ip", "10.77.0.9", "-p", "127.0.0.1:18080:80")

	golden := []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls", "--format", "{{.Name}}"}, "app\nbridge\nhost\nnone\n"},
		{[]string{"network", "ls", "-f", "name=app", "--format", `{{.Name}} {{.Label "team"}} {{.Internal}} {{upper .Driver}}`}, "app e2e false BRIDGE\n"},
		{[]string{"network", "ls", "-f", "name=app", "--format", "table {{.Name}}\t{{.Driver}}"}, "NAME   DRIVER\napp    bridge\n"},
		{[]string{"container", "ls", "--format", "{{.Names}} {{.Networks}} {{.IPAddresses}} {{.Ports}}"}, "web app 10.77.0.9 127.0.0.1:18080->80/tcp\n"},
		{[]string{"container", "inspect", "-f", "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}/{{.IPPrefixLen}}{{end}}", "web"}, "/web 10.77.0.9/24\n"},
		{[]string{"container", "inspect", "--format", `{{json .NetworkSettings.Ports}}`, "web"}, `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]}` + "\n"},
		{[]string{"network", "inspect", "--format", "{{json .IPAM.Config}}", "app"}, `[{"Subnet":"10.77.0.0/24","Gateway":"10.77.0.1"}]` + "\n"},
		{[]string{"network", "inspect", "-f", "{{.Name}} {{len .Containers}}", "app", "bridge"}, "app 1\nbridge 0\n"},
		{[]string{"stats", "web", "--format", "{{.Container}} {{.Network}} {{.IP}}"}, "web app 10.77.0.9\n"},
	}
	for _, g := range golden {
		if got := in.MustRun(g.args...); got != g.want {
			t.Errorf("%q:\n got %q\nwant %q", g.args, got, g.want)
		}
	}
	if got := in.MustRun("network", "ls", "-f", "name=app", "--format", "table {{.ID}}"); !strings.HasPrefix(got, "NETWORK ID\n") || len(strings.Fields(got)) != 3 {
		t.Errorf("table {{.ID}}: %q, want the header and one ID", got)
	}

	for _, args := range [][]string{
		{"network", "ls", "--format", "{{.Nope}}"},
		{"network", "ls", "-f", "name=nothing-matches", "--format", "{{.Nope}}"},
		{"container", "ls", "--format", "table {{.Image}}"},
		{"container", "inspect", "-f", "{{.Nope}}", "web"},
		{"network", "inspect", "-f", "{{.IPAM.Nope}}", "app"},
		{"stats", "--format", "{{.CPUPerc}}"},
	} {
		in.MustFail("template parsing error", args...)
	}
	in.MustFail(`template parsing error: template: :1: unclosed action`, "network", "ls", "--format", "{{.Name")
	in.MustFail(`unsupported --format "yaml": use json or table`, "conntrack", "ls", "--format", "yaml")
}

// container inspect carries Docker's fields: the default bridge's address
// at the top of NetworkSettings, PortBindings, ExposedPorts (--expose and
// published), IPAMConfig for --ip, and the short ID among the aliases of
// a user-defined network.
func TestInspectDockerShape(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.78.0.0/24", "user")
	in.MustRun("container", "create", "onbridge", "-p", "127.0.0.1:18090:80", "--expose", "9000/udp")
	in.MustRun("container", "create", "onuser", "--network", "user", "--ip", "10.78.0.7", "--network-alias", "api")
	b, u := in.Inspect("onbridge"), in.Inspect("onuser")
	ip := in.On(b, "bridge").IPAddress

	for _, tt := range []struct {
		ref, tmpl, want string
	}{
		{"onbridge", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}}", ip + " 16 " + in.On(b, "bridge").Gateway},
		{"onbridge", "{{json .HostConfig.PortBindings}}", `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18090"}]}`},
		{"onbridge", "{{json .Config.ExposedPorts}}", `{"80/tcp":{},"9000/udp":{}}`},
		{"onbridge", "{{json .NetworkSettings.Networks.bridge.IPAMConfig}} {{json .NetworkSettings.Networks.bridge.Aliases}}", "null null"},
		{"onuser", "[{{.NetworkSettings.IPAddress}}] {{.NetworkSettings.Networks.user.IPAMConfig.IPv4Address}}", "[] 10.78.0.7"},
		{"onuser", "{{json .NetworkSettings.Networks.user.Aliases}}", `["api","` + u.Id[:12] + `"]`},
	} {
		if got := strings.TrimSpace(in.MustRun("container", "inspect", "-f", tt.tmpl, tt.ref)); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.ref, tt.tmpl, got, tt.want)
		}
	}
}

// A network's com.docker.network.bridge.host_binding_ipv4 is the host
// address of its published ports when -p names none, at create and at
// publish; an explicit address wins; the option's 0.0.0.0 means every
// address. (An explicit -p 0.0.0.0:... counts as none named: ports.Parse
// keeps one form for every address.)
func TestHostBindingIPv4(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.79.0.0/24", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "local")
	in.MustRun("network", "create", "--subnet", "10.80.0.0/24", "-o", "host_binding_ipv4=0.0.0.0", "open")
	in.MustRun("container", "create", "lweb", "--network", "local", "-p", "18095:80", "-p", "10.79.0.1:18096:81")
	in.MustRun("container", "publish", "lweb", "-p", "18097:82")
	in.MustRun("container", "create", "oweb", "--network", "open", "-p", "18098:80")
	for _, tt := range []struct{ ref, want string }{
		{"lweb", "80/tcp -> 127.0.0.1:18095\n81/tcp -> 10.79.0.1:18096\n82/tcp -> 127.0.0.1:18097"},
		{"oweb", "80/tcp -> 0.0.0.0:18098"},
	} {
		if got := strings.TrimSpace(in.MustRun("port", tt.ref)); got != tt.want {
			t.Errorf("port %s:\n%s\nwant\n%s", tt.ref, got, tt.want)
		}
	}
	in.MustFail("not an IPv4 address", "network", "create", "-o", "host_binding_ipv4=::1", "bad")
}
