package testutil

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// CreateNetns is kernel.CreateNetns with a test's setup first: IPv6 off,
// so that no router solicitation or MLD report moves a receiver's counters,
// and lo up; then setup (nil: none).
func CreateNetns(path string, setup func() error) error {
	return kernel.CreateNetns(path, func() error {
		kernel.DisableIPv6("all")
		kernel.DisableIPv6("default")
		if err := kernel.SetLinkUp("lo"); err != nil {
			return err
		}
		if setup != nil {
			return setup()
		}
		return nil
	})
}

// NewNetns is CreateNetns at dir/name, deleted when the test ends.
func NewNetns(t testing.TB, dir, name string, setup func() error) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := CreateNetns(path, setup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kernel.DeleteNetns(path) })
	return path
}

// HostSetup prepares a namespace as a freshly booted host: forwarding off
// (the kernel's default), so that bpfnet must turn it on itself.
func HostSetup() error { return kernel.WriteSysctl("net/ipv4/ip_forward", "0") }

// DeleteNetns is kernel.DeleteNetns, for tests that import only testutil.
func DeleteNetns(path string) error { return kernel.DeleteNetns(path) }

// InNetns is kernel.DoPath, for tests that import only testutil.
func InNetns(path string, fn func() error) error { return kernel.DoPath(path, fn) }

// WriteSysctl is kernel.WriteSysctl, for tests that import only testutil.
func WriteSysctl(name, value string) error { return kernel.WriteSysctl(name, value) }

// ReadSysctl reads /proc/sys/NAME in the namespace at path.
func ReadSysctl(path, name string) (string, error) {
	var v string
	err := kernel.DoPath(path, func() (err error) { v, err = kernel.ReadSysctl(name); return err })
	return v, err
}

// Links returns the sorted names of the links in the namespace at path.
func Links(path string) ([]string, error) {
	h, err := kernel.Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := kernel.RetryDump(h.LinkList)
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
	h, err := kernel.Handle(path)
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
	h, err := kernel.Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := kernel.RetryDump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_V4) })
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
	h, err := kernel.Handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	var ph *netlink.Handle
	if peerNs != "" {
		pns, err := netns.GetFromPath(peerNs)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", peerNs, err)
		}
		defer pns.Close()
		veth.PeerNamespace = netlink.NsFd(int(pns))
		if ph, err = kernel.Handle(peerNs); err != nil {
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
	h, err := kernel.Handle(path)
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
	ns, err := kernel.NewNetnsHandle()
	if err != nil {
		return err
	}
	defer ns.Close()
	return kernel.Do(ns, func() error {
		l, err := link.AttachTCX(link.TCXOptions{Interface: 1, Program: prog, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			l.Close()
		}
		return err
	})
}
