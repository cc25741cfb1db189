package loader

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfnet/bpfnet/bpf"
)

// AttachSockets attaches the socket programs that point host processes at
// published ports to the cgroup at cgroupPath (the cgroup v2 root), for
// sockets of the network namespace with netnsCookie only. Their links are
// pinned; attaching again when the pins exist does nothing.
func (d *Datapath) AttachSockets(cgroupPath string, netnsCookie uint64) error {
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
	if !missing {
		return nil
	}
	spec, err := bpf.LoadSock()
	if err != nil {
		return fmt.Errorf("load socket program spec: %w", err)
	}
	if err := spec.Variables[bpf.SockVarHostNetnsCookie].Set(netnsCookie); err != nil {
		return fmt.Errorf("set host namespace cookie: %w", err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, *d.loadOptions(spec))
	if err != nil {
		return fmt.Errorf("load socket programs: %w", err)
	}
	defer coll.Close()
	for _, h := range hooks {
		if err := d.unpin(d.linkPin(h.prog)); err != nil {
			return err
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
