package ctl_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ctltest"
	"github.com/bpfnet/bpfnet/loader"
)

// check reports each difference made behind bpfnet's back, whether the
// machine lacks what the store holds or holds what the store does not
// explain, and repair mends it.
func TestCheckAndRepairBothWays(t *testing.T) {
	type damage struct {
		name string
		do   func(f *fixture, web *ctl.Container)
		want string // part of the problem check reports
	}
	mark := func(f *fixture, web *ctl.Container) string { // the instance's veth mark
		alias := f.k.Links[web.Endpoints[0].HostIfname].Alias
		return alias[:strings.LastIndex(alias, ":")+1]
	}
	for _, d := range []damage{
		{"missing endpoint entry", func(f *fixture, web *ctl.Container) {
			delete(f.k.DP.Endpoints, web.Endpoints[0].IP)
		}, "container web: endpoint on bridge: 172.17.0.2 is missing from the datapath"},
		{"missing veth", func(f *fixture, web *ctl.Container) {
			delete(f.k.Links, web.Endpoints[0].HostIfname)
		}, "container web: endpoint on bridge: veth " + "veth"},
		{"missing programs", func(f *fixture, web *ctl.Container) {
			delete(f.k.DP.Attached, web.Endpoints[0].Slot)
		}, "lacks bpfnet's programs"},
		{"missing namespace", func(f *fixture, web *ctl.Container) {
			_ = f.k.DeleteNetns(web.Netns)
		}, filepath.Join("netns", "web") + " is gone"},
		{"missing port", func(f *fixture, web *ctl.Container) {
			f.k.DP.Ports = map[ctltest.PortKey]loader.Port{}
		}, "published port 0.0.0.0:8080/tcp of container web is missing from the datapath"},
		{"missing gateway", func(f *fixture, web *ctl.Container) {
			clear(f.k.Gateways)
		}, "the gateway of network bridge is missing"},
		{"extra port", func(f *fixture, web *ctl.Container) {
			_ = f.k.DP.PublishPort(loader.Port{HostPort: 9999, Proto: 6, ContainerIP: web.Endpoints[0].IP, ContainerPort: 22})
		}, "published port 0.0.0.0:9999/tcp leads to 172.17.0.2:22, but no container publishes it"},
		{"extra endpoint entry", func(f *fixture, web *ctl.Container) {
			f.k.DP.Endpoints[netip.MustParseAddr("172.17.0.9")] = loader.EndpointEntry{Ifindex: 99, Slot: 7}
			f.k.DP.Attached[7] = 99
		}, "the datapath forwards 172.17.0.9 to ifindex 99, but no endpoint has that address"},
		{"extra veth", func(f *fixture, web *ctl.Container) {
			f.k.AddVeth("vethdead", mark(f, web)+"0123456789ab", "", "")
		}, "veth vethdead belongs to no endpoint"},
		{"extra namespace", func(f *fixture, web *ctl.Container) {
			f.k.Netns[filepath.Join(f.opts.Root, "netns", "ghost")] = &ctltest.Netns{Bound: true}
		}, "netns/ghost belongs to no container"},
		{"extra flow", func(f *fixture, web *ctl.Container) {
			f.k.DP.Flows = append(f.k.DP.Flows, loader.Flow{Proto: 6,
				Src: netip.MustParseAddrPort("172.17.0.5:40000"), Dst: netip.MustParseAddrPort("1.1.1.1:443")})
		}, "1 tracked flows name addresses that no endpoint holds"},
	} {
		t.Run(d.name, func(t *testing.T) {
			f := newFixture(t)
			web := f.create(ctl.ContainerSpec{Name: "web", Publish: []string{"8080:80"}})
			whole := f.k.Summary()
			d.do(f, web)
			problems := f.check()
			if !contains(problems, d.want) {
				t.Fatalf("check says %q, want %q", problems, d.want)
			}
			var fixed []string
			f.do(func(in *ctl.Instance) (err error) { fixed, err = in.Repair(); return err })
			if !contains(fixed, d.want) {
				t.Fatalf("repair says %q, want %q", fixed, d.want)
			}
			f.mustBeClean()
			// The ifindex of a rebuilt veth is new; compare the rest.
			if got := len(f.k.Summary()); got != len(whole) {
				t.Fatalf("after repair the machine holds\n%s\nbefore the damage\n%s", f.machine(), strings.Join(whole, "\n"))
			}
		})
	}
}
