package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
)

// Port is one published port as the datapath sees it.
type Port struct {
	HostIP        netip.Addr // zero or 0.0.0.0: every host address
	HostPort      uint16
	Proto         uint8 // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	ContainerIP   netip.Addr
	ContainerPort uint16
}

func (p Port) key() bpf.ContainerPortKey {
	k := bpf.ContainerPortKey{HostPort: portKey(p.HostPort), Proto: p.Proto}
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		k.HostIp = ipKey(p.HostIP)
	}
	return k
}

// PublishPort adds or replaces p; a packet or connection to it then
// reaches the container. One map update: its cost does not grow with the
// ports. The control plane has checked p against every other mapping.
func (d *Datapath) PublishPort(p Port) error {
	target := bpf.ContainerPortTarget{Ip: ipKey(p.ContainerIP), Port: portKey(p.ContainerPort)}
	if err := d.ports.Update(p.key(), &target, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("publish %v:%d/%d: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	return nil
}

// UnpublishPort removes p; a missing entry is fine.
func (d *Datapath) UnpublishPort(p Port) error {
	if err := d.ports.Delete(p.key()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unpublish %v:%d/%d: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	return nil
}
