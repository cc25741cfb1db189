package smoke

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
)

// TestVethAcrossNamespaces: a veth pair with one end in a new network namespace carries a TCP
// connection from the VM's namespace to a listener inside the new one.
func TestVethAcrossNamespaces(t *testing.T) {
	inVM(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "smoke0"}, PeerName: "smoke1"}
	if err := netlink.LinkAdd(veth); err != nil {
		capability(t, "veth", "no")
		t.Fatalf("add veth: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	mustAddr(t, "smoke0", "198.18.100.1/30")

	ln := listenInNewNetns(t, "smoke1", "198.18.100.2/30", "198.18.100.2:7000")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	c, err := net.DialTimeout("tcp", "198.18.100.2:7000", 5*time.Second)
	if err != nil {
		capability(t, "veth", "no")
		t.Fatalf("dial across the veth pair: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("ping over veth")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	capability(t, "veth", "yes")
}

// listenInNewNetns moves link into a new network namespace, gives it addr, and returns a TCP
// listener on listen created inside that namespace. The namespace lives as long as the socket.
func listenInNewNetns(t *testing.T, link, addr, listen string) net.Listener {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatalf("find %s: %v", link, err)
	}
	ns, err := kernel.NewNetnsHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netlink.LinkSetNsFd(l, int(ns)); err != nil {
		t.Fatalf("move %s into the new netns: %v", link, err)
	}
	var ln net.Listener
	err = kernel.Do(ns, func() (err error) {
		if err := kernel.SetLinkUp("lo"); err != nil {
			return err
		}
		mustAddr(t, link, addr)
		if ln, err = net.Listen("tcp", listen); err != nil {
			return fmt.Errorf("listen %s in the new netns: %w", listen, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// mustAddr puts addr on the named link (in the calling thread's namespace) and sets it up.
func mustAddr(t *testing.T, name, addr string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	a, err := netlink.ParseAddr(addr)
	if err != nil {
		t.Fatalf("parse %s: %v", addr, err)
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		t.Fatalf("address %s on %s: %v", addr, name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatalf("%s up: %v", name, err)
	}
}

// TestVXLANDevice: the kernel creates an external (collect_md) vxlan device, the kind an
// overlay dataplane drives with bpf_skb_set_tunnel_key.
func TestVXLANDevice(t *testing.T) {
	inVM(t)
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "smokevx"}, FlowBased: true, Port: 4789}
	if err := netlink.LinkAdd(vx); err != nil {
		capability(t, "vxlan", "no")
		t.Fatalf("add external vxlan device: %v", err)
	}
	defer netlink.LinkDel(vx)
	if err := netlink.LinkSetUp(vx); err != nil {
		t.Fatalf("vxlan up: %v", err)
	}
	capability(t, "vxlan", "yes")
}

func TestBridgeDevice(t *testing.T) {
	inVM(t)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "smokebr"}}
	if err := netlink.LinkAdd(br); err != nil {
		capability(t, "bridge", "no")
		t.Fatalf("add bridge: %v", err)
	}
	defer netlink.LinkDel(br)
	capability(t, "bridge", "yes")
}
