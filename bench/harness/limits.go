package main

// The limits: what no container dataplane can beat on this machine.
//   - loopback: client and server in one fresh namespace, over 127.0.0.1;
//   - veth: one bare veth pair between two namespaces, no bridge, no rules.

const (
	vethA = "10.99.0.1" // client side
	vethB = "10.99.0.2" // server side
)

type limits struct {
	lo, va, vb *netns
}

func setupLimits(h *harness) (*limits, error) {
	s := h.s
	l := &limits{}
	var err error
	if l.lo, err = s.newNetns("lo"); err != nil {
		return nil, err
	}
	if err := s.clientSysctls(l.lo); err != nil {
		return nil, err
	}
	if err := h.startServers(l.lo, false); err != nil {
		return nil, err
	}

	if l.va, err = s.newNetns("va"); err != nil {
		return nil, err
	}
	if l.vb, err = s.newNetns("vb"); err != nil {
		return nil, err
	}
	if err := s.veth(l.va, "eth0", l.vb, "eth0", 1500); err != nil {
		return nil, err
	}
	if err := s.addrUp(l.va, "eth0", vethA+"/24"); err != nil {
		return nil, err
	}
	if err := s.addrUp(l.vb, "eth0", vethB+"/24"); err != nil {
		return nil, err
	}
	if err := s.clientSysctls(l.va); err != nil {
		return nil, err
	}
	if err := h.startServers(l.vb, true); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *limits) loopbackTarget() *target {
	return &target{client: l.lo, addr: addrPort("127.0.0.1", loadgenPort)}
}

func (l *limits) vethTarget() *target {
	return &target{client: l.va, addr: addrPort(vethB, loadgenPort), iperf: vethB}
}
