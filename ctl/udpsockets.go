package ctl

import (
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/ctl/ports"
)

// udpSockets: the UDP socket programs are attached exactly while the store
// holds a published UDP port. An open that may write makes it so
// (syncUDPSockets); a read-only check sees what a command that failed after
// its commit, or a hand, left.
func (r *reconciler) udpSockets() error {
	want, err := r.in.holdsUDPPort()
	if err != nil {
		return err
	}
	if want == r.dp.UDPSocketsAttached() {
		return nil
	}
	if want {
		r.report("a UDP port is published, but the UDP socket programs (sendmsg4, recvmsg4) are not attached: host processes' datagrams to it reach no container")
	} else {
		r.report("the UDP socket programs (sendmsg4, recvmsg4) are attached, but no UDP port is published: every datagram of the machine runs them for nothing")
	}
	if !r.fix {
		return nil
	}
	return r.in.syncUDPSockets()
}

// holdsUDPPort tells whether the store holds a published UDP port.
func (in *Instance) holdsUDPPort() (bool, error) {
	var held bool
	err := in.store.WithPortIndex(func(h ports.Held) error {
		held = h.Highest(netip.IPv4Unspecified(), ports.UDP, 1, 0xffff) != 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read published UDP ports: %w", err)
	}
	return held, nil
}
