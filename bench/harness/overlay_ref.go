package main

import "fmt"

// The overlay reference: two "hosts" joined by an underlay veth, each with a
// kernel vxlan device enslaved to a Linux bridge that its container's veth is
// on, the data path of Docker's overlay driver (VXLAN id, UDP 4789, MTU 1450
// inside). Docker keeps that bridge in a namespace of its own with no
// iptables rules; here it sits in the host namespace, which has none either.
//
//	oc1 --veth-- oh1[br0+vxlan0] ==underlay veth== oh2[br0+vxlan0] --veth-- oc2
type overlayRef struct {
	h1, h2, c1, c2 *netns
}

const (
	underlay1 = "198.19.0.1"
	underlay2 = "198.19.0.2"
	overlayC1 = "10.0.9.2" // server container on host 1
	overlayC2 = "10.0.9.3" // client container on host 2
	vxlanID   = "4096"
)

func setupOverlayRef(h *harness) (*overlayRef, error) {
	s := h.s
	o := &overlayRef{}
	var err error
	for _, p := range []struct {
		n    **netns
		name string
	}{{&o.h1, "oh1"}, {&o.h2, "oh2"}, {&o.c1, "oc1"}, {&o.c2, "oc2"}} {
		if *p.n, err = s.newNetns(p.name); err != nil {
			return nil, err
		}
	}
	if err := s.veth(o.h1, "eth0", o.h2, "eth0", 1500); err != nil {
		return nil, err
	}
	hosts := []struct {
		host, ctr  *netns
		local, rem string
		ip         string
	}{{o.h1, o.c1, underlay1, underlay2, overlayC1}, {o.h2, o.c2, underlay2, underlay1, overlayC2}}
	for i, x := range hosts {
		if err := s.addrUp(x.host, "eth0", x.local+"/24"); err != nil {
			return nil, err
		}
		cmds := [][]string{
			x.host.ip("link", "add", "br0", "mtu", "1450", "type", "bridge"),
			x.host.ip("link", "add", "vxlan0", "mtu", "1450", "type", "vxlan", "id", vxlanID,
				"local", x.local, "remote", x.rem, "dstport", "4789", "dev", "eth0"),
			x.host.ip("link", "set", "vxlan0", "master", "br0"),
			x.host.ip("link", "set", "vxlan0", "up"),
			x.host.ip("link", "set", "br0", "up"),
		}
		if err := s.runAll(cmds); err != nil {
			return nil, err
		}
		hostDev := fmt.Sprintf("veth-oc%d", i+1)
		if err := s.veth(x.host, hostDev, x.ctr, "eth0", 1450); err != nil {
			return nil, err
		}
		cmds = [][]string{
			x.host.ip("link", "set", hostDev, "master", "br0"),
			x.host.ip("link", "set", hostDev, "up"),
		}
		if err := s.runAll(cmds); err != nil {
			return nil, err
		}
		if err := s.addrUp(x.ctr, "eth0", x.ip+"/24"); err != nil {
			return nil, err
		}
	}
	if err := s.clientSysctls(o.c2); err != nil {
		return nil, err
	}
	if err := h.startServers(o.c1, true); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *overlayRef) target() *target {
	return &target{client: o.c2, addr: addrPort(overlayC1, loadgenPort), iperf: overlayC1, flush: []*netns{o.h1, o.h2}}
}
