package e2e

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/kernel"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestUDPSocketsOnDemand: the UDP socket programs, which every process of
// the machine runs for each datagram, are attached to the cgroup root only
// while the instance publishes a UDP port: they follow publish, unpublish
// and rm, and a command that opens the instance (here repair) puts back what the store
// says (here after their links went behind bpfnet's back); connect4 stays.
// Host-local UDP reaches a published port whenever one exists.
func TestUDPSocketsOnDemand(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "pub")
	// within: how long the kernel may take to do it (0: done when the
	// command returned).
	wantWithin := func(what string, udp bool, within time.Duration) {
		t.Helper()
		exp := map[ebpf.AttachType]bool{ebpf.AttachCGroupInet4Connect: true,
			ebpf.AttachCGroupUDP4Sendmsg: udp, ebpf.AttachCGroupUDP4Recvmsg: udp}
		got := socketHooks(t, in)
		for deadline := time.Now().Add(within); !maps.Equal(got, exp) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			got = socketHooks(t, in)
		}
		if !maps.Equal(got, exp) {
			t.Errorf("%s: the instance's socket programs on the cgroup root: %v, want %v", what, got, exp)
		}
	}
	want := func(what string, udp bool) { t.Helper(); wantWithin(what, udp, 0) }
	hostUDP := func(what, addr string, srv *tu.Server) {
		t.Helper()
		n := len(srv.Peers())
		from, err := tu.UDPExchange(in.HostNetns, addr, answerWithin)
		if err != nil || from.String() != addr || len(srv.Peers()) != n+1 {
			t.Errorf("%s: host -> %s/udp: answer from %v, %v, server saw %d; want from %s, 1", what, addr, from, err, len(srv.Peers())-n, addr)
		}
	}
	want("no container", false)

	web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80")
	want("a TCP port only", false)

	udp81 := tu.Serve(t, web.Netns(), "udp", ":81")
	in.MustRun("container", "publish", "web", "-p", "8081:81/udp")
	want("web publishes 8081/udp", true)
	hostUDP("web publishes", "127.0.0.1:8081", udp81)

	dns := in.CreateContainer("dns", "--network", "pub", "-p", "127.0.0.1:5353:53/udp")
	udp53 := tu.Serve(t, dns.Netns(), "udp", ":53")
	in.MustRun("container", "unpublish", "web", "81/udp")
	want("web unpublished, dns publishes 5353/udp", true)
	hostUDP("dns publishes", "127.0.0.1:5353", udp53)

	in.MustRun("container", "rm", "-f", "dns")
	want("dns removed", false)

	in.MustRun("container", "publish", "web", "-p", "8081:81/udp")
	want("web publishes 8081/udp again", true)
	for _, prog := range []string{"bpfnet_sendmsg4", "bpfnet_recvmsg4"} {
		if err := os.Remove(filepath.Join(in.Root, "bpffs", "links", prog)); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel releases an unpinned link from a work queue.
	wantWithin("links removed behind bpfnet's back", false, tu.Scale(5*time.Second))
	in.MustRun("system", "repair")
	want("system repair", true)
	hostUDP("after repair", "127.0.0.1:8081", udp81)

	in.MustRun("container", "rm", "-f", "web")
	want("web removed", false)
}

// socketHooks tells, per cgroup socket hook, whether a program of in (one
// that uses in's bpfnet_host_netns map) is attached to the cgroup v2 root:
// what the kernel runs, whatever the pins say.
func socketHooks(t *testing.T, in *tu.Instance) map[ebpf.AttachType]bool {
	t.Helper()
	root, err := kernel.Cgroup2Mount()
	if err != nil || root == "" {
		t.Skipf("no cgroup v2 hierarchy mounted: %v", err)
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", "bpfnet_host_netns"), nil)
	if err != nil {
		t.Fatalf("open the instance's host namespace map: %v", err)
	}
	defer m.Close()
	mi, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := mi.ID()
	cg, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	got := map[ebpf.AttachType]bool{}
	for _, at := range []ebpf.AttachType{ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupUDP4Sendmsg, ebpf.AttachCGroupUDP4Recvmsg} {
		got[at] = false
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: at})
		if err != nil {
			t.Fatalf("query the cgroup root's %v programs: %v", at, err)
		}
		for _, p := range res.Programs {
			prog, err := ebpf.NewProgramFromID(p.ID)
			if errors.Is(err, unix.ENOENT) {
				continue // detached and gone since the query
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := prog.Info()
			prog.Close()
			if err != nil {
				t.Fatal(err)
			}
			if ids, _ := info.MapIDs(); slices.Contains(ids, ours) {
				got[at] = true
			}
		}
	}
	return got
}
