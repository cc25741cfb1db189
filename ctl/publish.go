package ctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
)

// portMappings parses -p specs, and for -P every --expose'd port, and
// chooses host ports against every other container's mappings and the
// host's sockets.
func (in *Instance) portMappings(spec ContainerSpec) ([]ports.Mapping, error) {
	wanted, err := ports.ParseAll(spec.Publish)
	if err != nil {
		return nil, err
	}
	if spec.PublishAll {
		exposed, err := ports.ParseAll(spec.Expose)
		if err != nil {
			return nil, fmt.Errorf("invalid --expose: %w", err)
		}
		for _, m := range exposed {
			m.HostIP, m.HostPort, m.HostPortEnd = netip.Addr{}, 0, 0
			wanted = append(wanted, m)
		}
	}
	if len(wanted) == 0 {
		return nil, nil
	}
	var existing []ports.Mapping
	for _, c := range in.state.Containers {
		existing = append(existing, c.Ports...)
	}
	alloc := ports.Allocator{Existing: existing, HostBusy: in.hostPortBusy}
	err = in.inHost(func() (err error) {
		alloc.Ephemeral, err = ports.ReadEphemeral("/proc/sys/net/ipv4")
		return err
	})
	if err != nil {
		return nil, err
	}
	return alloc.Assign(wanted)
}

// hostPortBusy tells whether a host process holds ip:port, by trying to
// bind it in the host namespace, as Docker's port reservation would fail.
func (in *Instance) hostPortBusy(ip netip.Addr, port uint16, proto ports.Proto) bool {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	busy := false
	_ = in.inHost(func() error {
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

func datapathPort(m ports.Mapping, target netip.Addr) loader.Port {
	proto := uint8(unix.IPPROTO_TCP)
	if m.Proto == ports.UDP {
		proto = unix.IPPROTO_UDP
	}
	return loader.Port{HostIP: m.HostIP, HostPort: m.HostPort, Proto: proto, ContainerIP: target, ContainerPort: m.ContainerPort}
}

// portTarget is the address c's ports lead to: its first network's, as in
// Docker.
func portTarget(c *Container) netip.Addr {
	if len(c.Endpoints) == 0 {
		return netip.Addr{}
	}
	return c.Endpoints[0].IP
}

// publishPorts installs c's mappings; on error none stays.
func (in *Instance) publishPorts(c *Container) error {
	for i, m := range c.Ports {
		if err := in.dp.PublishPort(datapathPort(m, portTarget(c))); err != nil {
			for _, done := range c.Ports[:i] {
				_ = in.dp.UnpublishPort(datapathPort(done, portTarget(c)))
			}
			return fmt.Errorf("publish %s of container %s: %w", m, c.Name, err)
		}
	}
	return nil
}

// unpublishPorts removes c's mappings and the flows through them.
func (in *Instance) unpublishPorts(c *Container) error {
	var errs []error
	for _, m := range c.Ports {
		errs = append(errs, in.dp.UnpublishPort(datapathPort(m, portTarget(c))))
	}
	for _, ep := range c.Endpoints {
		_, err := in.dp.FlushConntrack(ep.IP)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
