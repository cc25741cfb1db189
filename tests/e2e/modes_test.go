package e2e

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// execDescribe runs `bpfnet exec NAME -- <this binary> describe-netns` and
// returns the namespace's inode and its links ("name up|down").
func execDescribe(t *testing.T, in *tu.Instance, name string) (uint64, []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := in.MustRun("exec", name, "--", self, tu.ArgDescribeNetns)
	var ino uint64
	var links []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "netns "); ok {
			fmt.Sscan(rest, &ino)
		} else if rest, ok := strings.CutPrefix(line, "link "); ok {
			links = append(links, rest)
		}
	}
	if ino == 0 {
		t.Fatalf("exec %s: no namespace in %q", name, out)
	}
	slices.Sort(links)
	return ino, links
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestHostAndNoneModes: a host-mode container is the host's namespace; a
// none-mode container has a namespace of its own with only lo, up; exec
// runs in each container's namespace.
func TestHostAndNoneModes(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")

	h := in.CreateContainer("h1", "--network", "host")
	if h.HostConfig.NetworkMode != "host" {
		t.Errorf("h1: NetworkMode %q, want host", h.HostConfig.NetworkMode)
	}
	ino, links := execDescribe(t, in, "h1")
	if want := inode(t, in.HostNetns); ino != want {
		t.Errorf("exec h1 ran in namespace %d, want the host's %d", ino, want)
	}
	var hostLinks []string
	for _, l := range in.HostLinks() {
		hostLinks = append(hostLinks, l+" up")
	}
	if !slices.Equal(links, hostLinks) {
		t.Errorf("exec h1 sees links %v, want the host's %v", links, hostLinks)
	}

	n := in.CreateContainer("n1", "--network", "none")
	if n.HostConfig.NetworkMode != "none" {
		t.Errorf("n1: NetworkMode %q, want none", n.HostConfig.NetworkMode)
	}
	if n.Netns() == "" || n.Netns() == in.HostNetns {
		t.Fatalf("n1: namespace %q, want one of its own", n.Netns())
	}
	ino, links = execDescribe(t, in, "n1")
	if want := inode(t, n.Netns()); ino != want || ino == inode(t, in.HostNetns) {
		t.Errorf("exec n1 ran in namespace %d, want n1's %d", ino, want)
	}
	if !slices.Equal(links, []string{"lo up"}) {
		t.Errorf("n1 has links %v, want only lo, up", links)
	}
	if err := tu.Ping(n.Netns(), "127.0.0.1", answerWithin); err != nil {
		t.Errorf("n1's loopback: %v", err)
	}

	b := in.CreateContainer("b1")
	ino, links = execDescribe(t, in, "b1")
	if ino != inode(t, b.Netns()) || !slices.Equal(links, []string{"eth0 up", "lo up"}) {
		t.Errorf("exec b1: namespace %d with %v, want %d with eth0 and lo up", ino, links, inode(t, b.Netns()))
	}
	if b.HostConfig.NetworkMode != "bridge" || !strings.HasPrefix(in.On(b, "bridge").IPAddress, "172.17.") {
		t.Errorf("b1 without --network: %+v, want an address of the default bridge", b)
	}

	var nets []networkInspect
	in.MustJSON(&nets, "network", "inspect", "host", "none")
	for i, want := range []string{"h1", "n1"} {
		if len(nets) != 2 || len(nets[i].Containers) != 1 || nets[i].Containers[containerID(t, in, want)].Name != want {
			t.Errorf("network inspect host none: want %s in %s's containers: %+v", want, []string{"host", "none"}[i], nets)
		}
	}
}

type networkInspect struct {
	Name, Id, Driver, Scope string
	Internal                bool
	IPAM                    struct {
		Config []struct{ Subnet, Gateway, IPRange string }
	}
	Containers      map[string]struct{ Name, EndpointID, MacAddress, IPv4Address string }
	Options, Labels map[string]string
}

func containerID(t *testing.T, in *tu.Instance, name string) string { return in.Inspect(name).Id }

func inspectNetwork(t *testing.T, in *tu.Instance, name string) networkInspect {
	t.Helper()
	var nets []networkInspect
	in.MustJSON(&nets, "network", "inspect", name)
	if len(nets) != 1 {
		t.Fatalf("network inspect %s: %+v", name, nets)
	}
	return nets[0]
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestPredefinedNetworks: bridge, host and none exist from the first call,
// in Docker's shape, and cannot be removed; a used network cannot be
// removed; new networks take Docker's default pools in order, skipping
// pools the host routes.
func TestPredefinedNetworks(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	if got := in.Names("network"); !slices.Equal(got, []string{"bridge", "host", "none"}) {
		t.Fatalf("first network ls: %v, want bridge host none", got)
	}
	br := inspectNetwork(t, in, "bridge")
	if br.Driver != "bridge" || br.Scope != "local" || !hexID.MatchString(br.Id) || len(br.IPAM.Config) != 1 ||
		br.IPAM.Config[0].Subnet != "172.17.0.0/16" || br.IPAM.Config[0].Gateway != "172.17.0.1" {
		t.Errorf("bridge: %+v, want driver bridge, scope local, 172.17.0.0/16 via 172.17.0.1", br)
	}
	for name, driver := range map[string]string{"host": "host", "none": "null"} {
		if n := inspectNetwork(t, in, name); n.Driver != driver || !hexID.MatchString(n.Id) {
			t.Errorf("%s: %+v, want driver %s", name, n, driver)
		}
		in.MustFail(name+" is a pre-defined network and cannot be removed", "network", "rm", name)
	}
	in.MustFail("bridge is a pre-defined network and cannot be removed", "network", "rm", "bridge")

	// Docker's order, skipping a pool the host routes (a veth with 172.22.0.1/16).
	if err := tu.AddVeth(in.HostNetns, "routed", "172.22.0.1/16", "", ""); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 18; i <= 31; i++ {
		if i != 22 {
			want = append(want, fmt.Sprintf("172.%d.0.0/16", i))
		}
	}
	want = append(want, "192.168.0.0/20", "192.168.16.0/20")
	for i, subnet := range want {
		name := fmt.Sprintf("pool%02d", i)
		in.MustRun("network", "create", name)
		if got := inspectNetwork(t, in, name).IPAM.Config[0].Subnet; got != subnet {
			t.Errorf("network %d without --subnet got %s, want %s", i, got, subnet)
		}
	}

	// Containers{...} as Docker shows it; a network in use cannot go.
	c := in.CreateContainer("user1", "--network", "pool00")
	n := inspectNetwork(t, in, "pool00")
	got, ok := n.Containers[c.Id]
	ep := in.On(c, "pool00")
	if !ok || got.Name != "user1" || got.EndpointID != ep.EndpointID || got.IPv4Address != "172.18.0.2/16" ||
		got.MacAddress != "02:42:ac:12:00:02" || ep.MacAddress != got.MacAddress {
		t.Errorf("pool00's containers: %+v, want user1 at 172.18.0.2/16, 02:42:ac:12:00:02 (container: %+v)", n.Containers, ep)
	}
	in.MustFail("has active endpoints", "network", "rm", "pool00")
	in.MustRun("container", "rm", "user1")
	in.MustRun("network", "rm", "pool00")
	if slices.Contains(in.Names("network"), "pool00") {
		t.Errorf("pool00 still listed after rm")
	}
}

// TestDefaultBridgeBesideDocker: when the host already routes
// 172.17.0.0/16 (docker0), the default bridge takes the next free pool.
func TestDefaultBridgeBesideDocker(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	if err := tu.AddVeth(in.HostNetns, "docker0", "172.17.0.1/16", "", ""); err != nil {
		t.Fatal(err)
	}
	br := inspectNetwork(t, in, "bridge")
	if cfg := br.IPAM.Config; len(cfg) != 1 || cfg[0].Subnet != "172.18.0.0/16" || cfg[0].Gateway != "172.18.0.1" {
		t.Errorf("default bridge beside docker0: %+v, want 172.18.0.0/16 via 172.18.0.1", cfg)
	}
	in.MustRun("network", "create", "next")
	if got := inspectNetwork(t, in, "next").IPAM.Config[0].Subnet; got != "172.19.0.0/16" {
		t.Errorf("first new network: %s, want 172.19.0.0/16", got)
	}
	c := in.CreateContainer("d1")
	if ip := in.On(c, "bridge").IPAddress; !strings.HasPrefix(ip, "172.18.") {
		t.Errorf("container on the default bridge got %s, want 172.18.x.x", ip)
	}
}
