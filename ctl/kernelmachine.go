package ctl

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/loader"
)

// kernelMachine is the real machine: the kernel, acted on in the
// instance's host namespace (in.host) and its bpffs.
type kernelMachine struct{ in *Instance }

func (m kernelMachine) InHost(fn func() error) error { return kernel.Do(m.in.host.handle, fn) }

func (m kernelMachine) LinkExists(name string) (bool, error) {
	exists := false
	err := m.InHost(func() error {
		_, err := netlink.LinkByName(name)
		exists = err == nil
		return nil
	})
	return exists, err
}

func (m kernelMachine) LinkName(index int) (name string, ok bool) {
	_ = m.InHost(func() error {
		if l, err := netlink.LinkByIndex(index); err == nil {
			name, ok = l.Attrs().Name, true
		}
		return nil
	})
	return name, ok
}

func (m kernelMachine) DeleteLink(name string) (deleted bool, err error) {
	err = m.InHost(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return err
		}
		deleted = true
		return nil
	})
	return deleted, err
}

func (m kernelMachine) MarkedLinks(aliasPrefix string) (names []string, err error) {
	err = m.InHost(func() error {
		links, err := kernel.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Alias, aliasPrefix) {
				names = append(names, l.Attrs().Name)
			}
		}
		return nil
	})
	return names, err
}

func (m kernelMachine) Addrs() (held map[netip.Addr]int, err error) {
	err = m.InHost(func() (err error) { held, err = m.hostAddrs(); return err })
	return held, err
}

func (m kernelMachine) Routes() (routed []netip.Prefix, err error) {
	err = m.InHost(func() (err error) { routed, err = m.hostRoutesAndAddrs(); return err })
	return routed, err
}

func (m kernelMachine) Ephemeral() (e ports.Ephemeral, err error) {
	err = m.InHost(func() (err error) {
		e, err = ports.ReadEphemeral("/proc/sys/net/ipv4")
		return err
	})
	return e, err
}

// PortBusy tries to bind ip:port in the host namespace, as Docker's port
// reservation would fail.
func (m kernelMachine) PortBusy(ip netip.Addr, port uint16, proto ports.Proto) bool {
	busy := false
	_ = m.InHost(func() error {
		addr := netip.AddrPortFrom(ip, port).String()
		var err error
		if proto == ports.UDP {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp4", addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp4", addr); err == nil {
				l.Close()
			}
		}
		busy = errors.Is(err, syscall.EADDRINUSE)
		return nil
	})
	return busy
}

func (m kernelMachine) HasAddr(ip netip.Addr) bool {
	return m.InHost(func() error {
		l, err := net.Listen("tcp4", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			return err
		}
		return l.Close()
	}) == nil
}

func (m kernelMachine) SyncHost() error   { return m.in.syncHost() }
func (m kernelMachine) ReloadHost() error { return m.in.reloadHostPrograms() }
func (m kernelMachine) ResetHost() error  { return m.in.resetHostPrograms() }

func (kernelMachine) OpenDatapath(bpffs string, mode loader.AttachMode, sizes loader.Sizes) (Datapath, error) {
	dp, err := loader.OpenSized(bpffs, mode, sizes)
	if err != nil {
		return nil, err // not a non-nil Datapath holding a nil pointer
	}
	return dp, nil
}

func (kernelMachine) OpenPinnedDatapath(bpffs string) (Datapath, error) {
	dp, err := loader.OpenPinned(bpffs)
	if err != nil {
		return nil, err
	}
	return dp, nil
}

func (kernelMachine) DatapathPinned(bpffs string) bool { return loader.Pinned(bpffs) }
