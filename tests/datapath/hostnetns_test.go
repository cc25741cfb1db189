package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
)

// TestHostNetnsProbeRace: a process of another namespace that connects
// where the probe connects, while the loader learns the host namespace,
// must not get its namespace taken for the host's. The racer connects each
// time the loader enters the host namespace, so also between arming the
// probe and the probe's connect: before the fix, the first connect to the
// probe's address won, and this test saw the racer's namespace learned.
func TestHostNetnsProbeRace(t *testing.T) {
	for name, learn := range map[string]func(*loader.Datapath, func(func() error) error) error{
		"auto":  (*loader.Datapath).LearnHostNetns,
		"probe": (*loader.Datapath).LearnHostNetnsByProbe, // the way before 5.14
	} {
		t.Run(name, func(t *testing.T) {
			d := newDatapath(t)
			attachSockets(t, d)
			host, other := loNetns(t), loNetns(t)
			want := netnsCookie(t, host)
			raced := 0
			inHost := func(fn func() error) error {
				if err := kernel.Do(other, func() error { return udpConnect(loader.ProbeAddr) }); err != nil {
					return fmt.Errorf("racer: %w", err)
				}
				raced++
				return kernel.Do(host, fn)
			}
			if err := learn(d, inHost); err != nil {
				t.Fatalf("learn host namespace: %v", err)
			}
			got, err := d.HostNetns()
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("learned namespace cookie %d, want the host's %d (the racer's is %d)", got, want, netnsCookie(t, other))
			}
			if name == "probe" && raced < 2 {
				t.Errorf("the racer ran %d times; want one between arming the probe and its connect", raced)
			}
		})
	}
}

// attachSockets attaches d's socket programs to the cgroup v2 root, where
// they see every process's sockets; they act on none until they know the
// host namespace, and go with d's bpffs.
func attachSockets(t *testing.T, d *loader.Datapath) {
	t.Helper()
	root, err := kernel.Cgroup2Mount()
	if err != nil || root == "" {
		t.Skipf("no cgroup v2 hierarchy mounted: %v", err)
	}
	if err := d.AttachSockets(root, false); errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("kernel cannot attach socket programs: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// loNetns is a throwaway namespace with lo up, closed when the test ends.
func loNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	ns, err := kernel.NewNetnsHandle()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	if err := kernel.Do(ns, func() error { return kernel.SetLinkUp("lo") }); err != nil {
		t.Fatal(err)
	}
	return ns
}

// netnsCookie is the cookie of ns as the kernel tells it to BPF programs:
// from SO_NETNS_COOKIE (5.14+), else what the probe learns of ns in a
// datapath of its own when nothing races it.
func netnsCookie(t *testing.T, ns netns.NsHandle) uint64 {
	t.Helper()
	var cookie uint64
	err := kernel.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = kernel.SockoptUint64(fd, unix.SO_NETNS_COOKIE)
		return err
	})
	if errors.Is(err, unix.ENOPROTOOPT) {
		d := newDatapath(t)
		attachSockets(t, d)
		if err := d.LearnHostNetnsByProbe(func(fn func() error) error { return kernel.Do(ns, fn) }); err != nil {
			t.Fatalf("learn a namespace's cookie: %v", err)
		}
		if cookie, err = d.HostNetns(); err == nil && cookie == 0 {
			err = fmt.Errorf("nothing learned")
		}
	}
	if err != nil {
		t.Fatalf("read a namespace cookie: %v", err)
	}
	return cookie
}

// udpConnect connects a UDP socket of the calling thread's namespace to
// addr (no datagram is sent) and closes it.
func udpConnect(addr netip.AddrPort) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())})
}
