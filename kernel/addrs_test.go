package kernel

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
)

// fullAddrDump is AddrsByLink the simple way: one dump of every address.
func fullAddrDump(t *testing.T) map[int][]netip.Addr {
	all, err := AddrList(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]netip.Addr{}
	for _, a := range all {
		ip, _ := netip.AddrFromSlice(a.IP)
		out[a.LinkIndex] = append(out[a.LinkIndex], ip.Unmap())
	}
	return out
}

// TestAddrsByLinkIsTheFullDump: in a namespace with lo, a link holding a
// primary and a secondary address, another with one, and links with none,
// the filtered dumps give what one dump of every address gives, in the
// same order.
func TestAddrsByLinkIsTheFullDump(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes a network namespace")
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := CreateNetns(path, nil); err != nil {
		t.Fatal(err)
	}
	defer DeleteNetns(path)
	err := DoPath(path, func() error {
		for _, name := range []string{"a", "b", "c"} {
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
				return err
			}
		}
		for _, name := range []string{"lo", "a", "ap", "b", "bp", "c", "cp"} {
			if err := SetLinkUp(name); err != nil {
				return err
			}
		}
		for _, a := range []struct{ link, cidr string }{{"a", "192.0.2.1/24"}, {"a", "192.0.2.9/24"}, {"b", "198.51.100.7/25"}} {
			l, err := netlink.LinkByName(a.link)
			if err != nil {
				return err
			}
			addr, _ := netlink.ParseAddr(a.cidr)
			if err := netlink.AddrAdd(l, addr); err != nil {
				return err
			}
		}
		got, err := AddrsByLink()
		if err != nil {
			return err
		}
		want := fullAddrDump(t)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("AddrsByLink = %v, the full dump %v", got, want)
		}
		if len(want) != 3 {
			t.Errorf("the full dump found addresses on %d links, want 3 (lo, a, b): %v", len(want), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
