package testutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CreateNetns makes a network namespace bound at path (a new file), as
// `ip netns add` does, and runs setup inside it. Setup turns IPv6 off, so
// that no router solicitation or MLD report moves a receiver's counters,
// and brings lo up.
func CreateNetns(path string, setup func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it dies with the goroutine, so no
		// other goroutine ever runs in the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("bind %s: %w", path, err)
			return
		}
		for _, conf := range []string{"all", "default"} {
			_ = WriteSysctl("net/ipv6/conf/"+conf+"/disable_ipv6", "1")
		}
		err := setLinkUp("lo")
		if err == nil && setup != nil {
			err = setup()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		_ = DeleteNetns(path)
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	return nil
}

// NewNetns is CreateNetns at dir/name, deleted when the test ends.
func NewNetns(t testing.TB, dir, name string, setup func() error) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := CreateNetns(path, setup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteNetns(path) })
	return path
}

// HostSetup prepares a namespace as a freshly booted host: forwarding off
// (the kernel's default), so that bpfnet must turn it on itself.
func HostSetup() error { return WriteSysctl("net/ipv4/ip_forward", "0") }

// DeleteNetns unbinds and removes a namespace file. The namespace dies,
// with its links, once nothing else holds it.
func DeleteNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// InNetns runs fn on a thread switched into the namespace at path. Sockets
// fn creates stay in that namespace and may be used from any goroutine
// afterwards; fn itself must not start goroutines that expect the
// namespace.
func InNetns(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", path, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime retires it with the goroutine.
		return errors.Join(fnErr, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// WriteSysctl writes /proc/sys/NAME in the calling thread's namespace.
func WriteSysctl(name, value string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(value), 0o644)
}

// ReadSysctl reads /proc/sys/NAME in the namespace at path.
func ReadSysctl(path, name string) (string, error) {
	var v []byte
	err := InNetns(path, func() (err error) { v, err = os.ReadFile("/proc/sys/" + name); return err })
	return strings.TrimSpace(string(v)), err
}

func setLinkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	return err
}

// Handle is a netlink handle acting in the namespace at path.
func Handle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// Links returns the sorted names of the links in the namespace at path.
func Links(path string) ([]string, error) {
	h, err := Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	sort.Strings(names)
	return names, nil
}

// LinkByName finds a link in the namespace at path.
func LinkByName(path, name string) (netlink.Link, error) {
	h, err := Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.LinkByName(name)
}

// RxPackets is the kernel's received-packets counter of ifname in the
// namespace at path: what a receiver really got.
func RxPackets(t testing.TB, path, ifname string) uint64 {
	t.Helper()
	l, err := LinkByName(path, ifname)
	if err != nil {
		t.Fatalf("link %s in %s: %v", ifname, path, err)
	}
	return l.Attrs().Statistics.RxPackets
}

// AddrsOf returns the IPv4 addresses with prefix of ifname in path.
func AddrsOf(path, ifname string) ([]string, error) {
	h, err := Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out, nil
}

// AddVeth creates a veth pair in the namespace at path with addr (CIDR) on
// name, both ends up; with peerNs set, the peer moves there and gets
// peerAddr. It stands for a host's uplink, or a route of its own.
func AddVeth(path, name, addr, peerNs, peerAddr string) error {
	h, err := Handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	var ph *netlink.Handle
	if peerNs != "" {
		pns, err := netns.GetFromPath(peerNs)
		if err != nil {
			return err
		}
		defer pns.Close()
		veth.PeerNamespace = netlink.NsFd(int(pns))
		if ph, err = netlink.NewHandleAt(pns); err != nil {
			return err
		}
		defer ph.Close()
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", name, err)
	}
	if err := upWithAddr(h, name, addr); err != nil {
		return err
	}
	if ph == nil {
		ph = h
	}
	return upWithAddr(ph, name+"p", peerAddr)
}

func upWithAddr(h *netlink.Handle, name, cidr string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if cidr != "" {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			return err
		}
		if err := h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add %s to %s: %w", cidr, name, err)
		}
	}
	return h.LinkSetUp(l)
}

// AddRoute adds a route to dst (CIDR) via gw in the namespace at path.
func AddRoute(path, dst, gw string) error {
	h, err := Handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	r := &netlink.Route{Gw: net.ParseIP(gw)}
	if dst != "" && dst != "default" {
		if _, r.Dst, err = net.ParseCIDR(dst); err != nil {
			return err
		}
	}
	return h.RouteAdd(r)
}

var tcx struct {
	once sync.Once
	err  error
}

// HaveTCX tells whether the kernel attaches TCX links (6.6+): it attaches
// a pass program to lo in a throwaway namespace. A nil error means yes.
func HaveTCX() error {
	tcx.once.Do(func() { tcx.err = probeTCX() })
	return tcx.err
}

func probeTCX() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("load probe program: %w", err)
	}
	defer prog.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the namespace dies with the thread
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: 1, Program: prog, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			l.Close()
		}
		done <- err
	}()
	return <-done
}
