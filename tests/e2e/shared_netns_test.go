package e2e

import (
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// --network container:NAME joins NAME's namespace: exec runs there, the
// joiner has no endpoint, port or namespace of its own, NAME cannot be
// removed while it is shared, and the joiner's removal leaves NAME whole.
func TestSharedNetworkNamespace(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.86.0.0/24", "app")
	web := in.CreateContainer("web", "--network", "app")
	in.CreateContainer("peer", "--network", "app")
	side := in.CreateContainer("side", "--network", "container:web")
	deeper := in.CreateContainer("deeper", "--network", "container:side") // joins web's, as Docker

	for _, c := range []*tu.Container{side, deeper} {
		if want := "container:" + web.Id; c.HostConfig.NetworkMode != want {
			t.Errorf("%s: NetworkMode %q, want %q", c.Name, c.HostConfig.NetworkMode, want)
		}
		if len(c.Settings.Networks) != 0 {
			t.Errorf("%s has endpoints of its own: %v", c.Name, c.Settings.Networks)
		}
	}
	webIno, webLinks := execDescribe(t, in, "web")
	for _, name := range []string{"side", "deeper"} {
		if ino, links := execDescribe(t, in, name); ino != webIno || len(links) != len(webLinks) {
			t.Errorf("exec %s ran in namespace %d with links %v, want web's %d with %v", name, ino, links, webIno, webLinks)
		}
	}
	if got := len(in.NetnsFiles()); got != 2 {
		t.Errorf("%d namespace files, want web's and peer's", got)
	}
	// Traffic from the shared namespace is web's.
	peer := in.Inspect("peer")
	if err := reach(web.Netns(), peer.Netns(), in.On(peer, "app").IPAddress); err != nil {
		t.Errorf("web -> peer: %v", err)
	}

	in.MustFail("conflicting options: port publishing and the container type network mode",
		"container", "create", "pub", "--network", "container:web", "-p", "8080:80")
	in.MustFail("No such container: nothere", "container", "create", "lost", "--network", "container:nothere")
	in.MustFail("cannot be connected to any other network", "network", "connect", "app", "side")
	in.MustFail("cannot remove container web: its network namespace is shared by deeper, side", "container", "rm", "web")
	if r := in.Run("system", "check"); r.Code != 0 {
		t.Errorf("check with shared namespaces: %v", r)
	}

	in.MustRun("container", "rm", "side")
	in.MustFail("shared by deeper", "container", "rm", "web")
	in.MustRun("container", "rm", "deeper")
	in.MustRun("container", "rm", "web")
	if r := in.Run("system", "check"); r.Code != 0 {
		t.Errorf("check after the removals: %v", r)
	}
	if got := len(in.NetnsFiles()); got != 1 {
		t.Errorf("%d namespace files after web went, want peer's", got)
	}
}
