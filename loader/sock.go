package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/bpf"
	"github.com/bpfnet/bpfnet/kernel"
)

// sockHook is a socket program and the cgroup hook it runs on.
type sockHook struct {
	prog   string
	attach ebpf.AttachType
}

var (
	connectHook = sockHook{bpf.SockProgBpfnetConnect4, ebpf.AttachCGroupInet4Connect}
	// udpHooks run for every datagram any process of the machine sends or
	// receives: SetUDPSockets attaches them only while a UDP port is
	// published.
	udpHooks = []sockHook{
		{bpf.SockProgBpfnetSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{bpf.SockProgBpfnetRecvmsg4, ebpf.AttachCGroupUDP4Recvmsg},
	}
)

// AttachSockets attaches connect4, the socket program that points host
// processes' connects at published ports, to the cgroup at cgroupPath (the
// cgroup v2 root). The socket programs act on sockets of the host namespace
// only, once LearnHostNetns has told them which that is. Their links are
// pinned; attaching again when the pin exists does nothing, unless replace:
// then the attached socket programs (the UDP ones too, if attached) are
// loaded anew and swapped into their pinned links, with no moment without
// them.
func (d *Datapath) AttachSockets(cgroupPath string, replace bool) error {
	hooks := []sockHook{connectHook}
	if replace {
		for _, h := range udpHooks {
			if d.pinned(h) {
				hooks = append(hooks, h)
			}
		}
	}
	return d.attachSockHooks(cgroupPath, hooks, replace)
}

// UDPSocketsAttached tells whether the UDP socket programs are attached.
func (d *Datapath) UDPSocketsAttached() bool {
	for _, h := range udpHooks {
		if !d.pinned(h) {
			return false
		}
	}
	return true
}

// SetUDPSockets attaches (on) or detaches the socket programs that point
// host processes' UDP datagrams at published ports and show the replies as
// coming from where they were sent: every process of the machine pays for
// them per datagram, so they are attached only while the instance publishes
// a UDP port.
func (d *Datapath) SetUDPSockets(cgroupPath string, on bool) error {
	if on {
		return d.attachSockHooks(cgroupPath, udpHooks, false)
	}
	for _, h := range udpHooks {
		if err := d.detachPinned(d.linkPin(h.prog)); err != nil {
			return err
		}
	}
	return nil
}

// detachPinned detaches the pinned link at path and removes the pin; a
// missing pin is fine. Removing the pin alone would detach it too, but
// later: the kernel releases an unpinned link from a work queue.
func (d *Datapath) detachPinned(path string) error {
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pinned link %s: %w", path, err)
	}
	defer l.Close()
	if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("detach %s: %w", path, err)
	}
	return d.unpin(path)
}

func (d *Datapath) pinned(h sockHook) bool {
	_, err := os.Stat(d.linkPin(h.prog))
	return err == nil
}

// attachSockHooks attaches and pins the hooks that have no pinned link;
// with replace, it swaps new programs into those that have one.
func (d *Datapath) attachSockHooks(cgroupPath string, hooks []sockHook, replace bool) error {
	todo := hooks[:0:0]
	for _, h := range hooks {
		if replace || !d.pinned(h) {
			todo = append(todo, h)
		}
	}
	if len(todo) == 0 {
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
	for _, h := range todo {
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
	cookie, err := d.HostNetns()
	return cookie != 0, err
}

// HostNetns is the cookie of the namespace the socket programs take for
// the host's; 0 until LearnHostNetns.
func (d *Datapath) HostNetns() (uint64, error) {
	var h bpf.HostNetns
	if err := d.hostNetns.Lookup(uint32(0), &h); err != nil {
		return 0, fmt.Errorf("read host namespace entry: %w", err)
	}
	return h.Cookie, nil
}

// ProbeAddr is where LearnHostNetnsByProbe connects its probe socket (UDP:
// no datagram is sent). Any process may connect there too: only the probe
// socket tells the namespace.
var ProbeAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 9)

// LearnHostNetns tells the socket programs which namespace is the host's.
// inHost runs a function on a thread of the host namespace. From 5.14 a
// socket made there tells its namespace's cookie (SO_NETNS_COOKIE); before,
// LearnHostNetnsByProbe has connect4 learn it.
func (d *Datapath) LearnHostNetns(inHost func(func() error) error) error {
	fd, err := hostSocket(inHost)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cookie, err := kernel.SockoptUint64(fd, unix.SO_NETNS_COOKIE)
	if errors.Is(err, unix.ENOPROTOOPT) {
		return d.LearnHostNetnsByProbe(inHost)
	}
	if err != nil {
		return fmt.Errorf("read the host namespace's cookie: %w", err)
	}
	h := bpf.HostNetns{Cookie: cookie}
	if err := d.hostNetns.Update(uint32(0), &h, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("record the host namespace: %w", err)
	}
	return nil
}

// LearnHostNetnsByProbe is LearnHostNetns for kernels before 5.14, which
// tell a namespace's cookie only to BPF programs: it makes a socket in the
// host namespace, arms connect4 with that socket's cookie and connects it
// (to ProbeAddr, in the host namespace again); connect4 records the
// namespace of that socket only. The socket programs must be attached.
func (d *Datapath) LearnHostNetnsByProbe(inHost func(func() error) error) error {
	fd, err := hostSocket(inHost)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sock, err := kernel.SockoptUint64(fd, unix.SO_COOKIE)
	if err != nil {
		return fmt.Errorf("read the probe socket's cookie: %w", err)
	}
	h := bpf.HostNetns{ProbeCookie: sock}
	if err := d.hostNetns.Update(uint32(0), &h, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("arm host namespace probe: %w", err)
	}
	sa := &unix.SockaddrInet4{Addr: ProbeAddr.Addr().As4(), Port: int(ProbeAddr.Port())}
	if err := inHost(func() error { return unix.Connect(fd, sa) }); err != nil {
		return fmt.Errorf("probe the host namespace: connect to %v: %w", ProbeAddr, err)
	}
	known, err := d.HostNetnsKnown()
	if err == nil && !known {
		err = fmt.Errorf("the socket programs did not see the probe connect to %v", ProbeAddr)
	}
	return err
}

// hostSocket makes a UDP socket in the host namespace.
func hostSocket(inHost func(func() error) error) (int, error) {
	fd := -1
	err := inHost(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("make a socket in the host namespace: %w", err)
	}
	return fd, nil
}
