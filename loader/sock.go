package loader

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfnet/bpfnet/bpf"
)

// AttachSockets attaches the socket programs that point host processes at
// published ports to the cgroup at cgroupPath (the cgroup v2 root). They
// act on sockets of the host namespace only, once LearnHostNetns has told
// them which that is. Their links are pinned; attaching again when the
// pins exist does nothing, unless replace: then the programs are loaded
// anew and swapped into the pinned links, with no moment without them.
func (d *Datapath) AttachSockets(cgroupPath string, replace bool) error {
	hooks := []struct {
		prog   string
		attach ebpf.AttachType
	}{
		{bpf.SockProgBpfnetConnect4, ebpf.AttachCGroupInet4Connect},
		{bpf.SockProgBpfnetSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{bpf.SockProgBpfnetRecvmsg4, ebpf.AttachCGroupUDP4Recvmsg},
	}
	missing := false
	for _, h := range hooks {
		if _, err := os.Stat(d.linkPin(h.prog)); err != nil {
			missing = true
		}
	}
	if !missing && !replace {
		return nil
	}
	spec, err := bpf.LoadSock()
	if err != nil {
		return fmt.Errorf("load socket program spec: %w", err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, *d.loadOptions(spec))
	if err != nil {
		return fmt.Errorf("load socket programs: %w", err)
	}
	defer coll.Close()
	for _, h := range hooks {
		if l, err := link.LoadPinnedLink(d.linkPin(h.prog), nil); err == nil {
			err = l.Update(coll.Programs[h.prog])
			l.Close()
			if err != nil {
				return fmt.Errorf("replace %s on cgroup %s: %w", h.prog, cgroupPath, err)
			}
			continue
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: h.attach, Program: coll.Programs[h.prog]})
		if err != nil {
			return fmt.Errorf("attach %s to cgroup %s: %w", h.prog, cgroupPath, err)
		}
		err = pinLink(l, d.linkPin(h.prog))
		l.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// HostNetnsKnown tells whether the socket programs know the host namespace.
func (d *Datapath) HostNetnsKnown() (bool, error) {
	var h bpf.HostNetns
	if err := d.hostNetns.Lookup(uint32(0), &h); err != nil {
		return false, fmt.Errorf("read host namespace entry: %w", err)
	}
	return h.Cookie != 0, nil
}

// LearnHostNetns tells the socket programs which namespace is the host's:
// probe must connect a socket of the host namespace to the address given,
// which connect4 recognises and records (kernels before 5.14 give a
// namespace's cookie to BPF programs only).
func (d *Datapath) LearnHostNetns(probe func(netip.AddrPort) error) error {
	var nonce [2]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("pick a probe port: %w", err)
	}
	port := binary.NativeEndian.Uint16(nonce[:])%20000 + 40000
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	h := bpf.HostNetns{ProbeIp: ipKey(addr.Addr()), ProbePort: portKey(port)}
	if err := d.hostNetns.Update(uint32(0), &h, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("arm host namespace probe: %w", err)
	}
	if err := probe(addr); err != nil {
		return fmt.Errorf("probe the host namespace: %w", err)
	}
	known, err := d.HostNetnsKnown()
	if err == nil && !known {
		err = fmt.Errorf("the socket programs did not see the probe connect to %v", addr)
	}
	return err
}
