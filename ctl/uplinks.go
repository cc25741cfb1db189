package ctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// syncHost brings the host-wide datapath in line with the host namespace:
// the uplink program on every device that leads out of the host (with its
// first IPv4 address as masquerade source), the set of host addresses, and
// the socket programs. Devices appear and change behind bpfnet's back, so
// every command looks again; it only attaches what is missing or changed.
func (in *Instance) syncHost() error {
	registered, err := in.dp.Uplinks()
	if err != nil {
		return err
	}
	var hostIPs []netip.Addr
	err = in.inHost(func() error {
		// Containers reach other hosts through the host, as with Docker,
		// which sets this at start; a reboot resets it.
		// Read first: each write walks every device of the namespace
		// (devinet's forwarding change), thousands of container veths.
		if v, err := kernel.ReadSysctl("net/ipv4/ip_forward"); err != nil || v != "1" {
			if err := kernel.WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
				return err
			}
		}
		// A host namespace made by `ip netns add` starts with lo down;
		// 127.0.0.1 (published ports, the socket programs' probe) needs it up.
		lo, err := netlink.LinkByName("lo")
		if err == nil && lo.Attrs().Flags&net.FlagUp == 0 {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("bring up lo of the host namespace: %w", err)
		}
		// Uplinks are the devices with an IPv4 address, found without
		// visiting the container veths (which carry none).
		addrs, err := kernel.AddrsByLink()
		if err != nil {
			return fmt.Errorf("list host addresses: %w", err)
		}
		own := in.hostDevices()
		seen := map[int]bool{}
		for index, as := range addrs {
			first := as[0]
			hostIPs = append(hostIPs, as...)
			if registered[index] == first {
				seen[index] = true // attached as it is: no need to ask the link
				continue
			}
			l, err := netlink.LinkByIndex(index)
			if err != nil {
				continue // gone since the dump
			}
			name := l.Attrs().Name
			if name == "lo" || own[name] || strings.HasPrefix(l.Attrs().Alias, in.aliasPrefix()) {
				continue
			}
			seen[index] = true
			if err := in.step("kernel: attach uplink " + name); err != nil {
				return err
			}
			if err := in.dp.AttachUplink(index, first); err != nil {
				if errors.Is(err, unix.ENODEV) {
					continue // gone meanwhile: the next command detaches it
				}
				return fmt.Errorf("attach uplink %s: %w", name, err)
			}
		}
		for index := range registered {
			if !seen[index] {
				if err := in.dp.DetachUplink(index); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := in.dp.SetHostIPs(hostIPs); err != nil {
		return err
	}
	cgroup, err := in.cgroup2Root()
	if err != nil {
		return err
	}
	if err := in.dp.AttachSockets(cgroup, false); err != nil {
		return err
	}
	if err := in.learnHostNetns(); err != nil {
		return err
	}
	return in.syncUDPSockets()
}

// learnHostNetns tells the socket programs which namespace is the host's.
func (in *Instance) learnHostNetns() error {
	known, err := in.dp.HostNetnsKnown()
	if err != nil || known {
		return err
	}
	return in.dp.LearnHostNetns(in.inHost)
}

// syncUDPSockets attaches the UDP socket programs, which every process of
// the machine runs for each datagram, while the store holds a published UDP
// port, and detaches them when it holds none. Every command runs it when it
// opens the instance and after a commit that changes ports.
func (in *Instance) syncUDPSockets() error {
	var want bool
	err := in.store.WithPortIndex(func(held ports.Held) error {
		want = held.Highest(netip.IPv4Unspecified(), ports.UDP, 1, 0xffff) != 0
		return nil
	})
	if err != nil {
		return fmt.Errorf("read published UDP ports: %w", err)
	}
	if want == in.dp.UDPSocketsAttached() {
		return nil
	}
	cgroup, err := in.cgroup2Root()
	if err != nil {
		return err
	}
	return in.dp.SetUDPSockets(cgroup, want)
}

// cgroup2Root finds the cgroup v2 hierarchy, mounting one under the
// instance's root on hosts that only mount v1 hierarchies.
func (in *Instance) cgroup2Root() (string, error) {
	dir := filepath.Join(in.opts.Root, "cgroup2")
	mounted, err := kernel.Cgroup2Mount(dir)
	if err != nil || mounted != "" {
		return mounted, err
	}
	return dir, kernel.MountCgroup2(dir)
}

// unmountCgroup2 undoes cgroup2Root's mount, if it made one.
func (in *Instance) unmountCgroup2() {
	dir := filepath.Join(in.opts.Root, "cgroup2")
	_ = unix.Unmount(dir, unix.MNT_DETACH)
	_ = os.Remove(dir)
}
