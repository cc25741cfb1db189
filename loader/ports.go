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

func (p Port) key() bpf.PortKey {
	k := bpf.PortKey{HostPort: portKey(p.HostPort), Proto: p.Proto}
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		k.HostIp = ipKey(p.HostIP)
	}
	return k
}

func (p Port) target() bpf.PortTarget {
	return bpf.PortTarget{Ip: ipKey(p.ContainerIP), Port: portKey(p.ContainerPort)}
}

// PublishPort adds or replaces p; a packet or connection to it then
// reaches the container. Its cost does not grow with the ports: the
// mapping and its reverse (bpfnet_published_as, which gives a reply whose
// flow lost its state the address it must come from) are a few map
// operations. The control plane has checked p against every other mapping.
func (d *Datapath) PublishPort(p Port) error {
	key, target := p.key(), p.target()
	var old bpf.PortTarget
	err := d.ports.Lookup(key, &old)
	switch {
	case err == nil && old == target:
		return nil
	case err != nil && !errors.Is(err, ebpf.ErrKeyNotExist):
		return fmt.Errorf("publish %v:%d/%d: read mapping: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	if err := d.ports.Update(key, &target, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("publish %v:%d/%d: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	if err == nil {
		if err := d.unrefTarget(key, old); err != nil {
			return err
		}
	}
	return d.refTarget(key, target)
}

// UnpublishPort removes p; a missing entry is fine.
func (d *Datapath) UnpublishPort(p Port) error {
	key := p.key()
	var old bpf.PortTarget
	if err := d.ports.Lookup(key, &old); errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("unpublish %v:%d/%d: read mapping: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	if err := d.ports.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unpublish %v:%d/%d: %w", p.HostIP, p.HostPort, p.Proto, err)
	}
	return d.unrefTarget(key, old)
}

func targetKey(k bpf.PortKey, t bpf.PortTarget) bpf.TargetKey {
	return bpf.TargetKey{Ip: t.Ip, Port: t.Port, Proto: k.Proto}
}

// refTarget records that the mapping k leads to t.
func (d *Datapath) refTarget(k bpf.PortKey, t bpf.PortTarget) error {
	tk := targetKey(k, t)
	var as bpf.PublishedAs
	if err := d.publishedAs.Lookup(tk, &as); err == nil {
		as.Mappings++ // several: a reply with no state gets no guess
	} else if errors.Is(err, ebpf.ErrKeyNotExist) {
		as = bpf.PublishedAs{HostIp: k.HostIp, HostPort: k.HostPort, Mappings: 1}
	} else {
		return fmt.Errorf("read published ports of %v:%d: %w", keyIP(t.Ip), portKey(t.Port), err)
	}
	if err := d.publishedAs.Update(tk, &as, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("record published port of %v:%d: %w", keyIP(t.Ip), portKey(t.Port), err)
	}
	return nil
}

// indexPublished fills bpfnet_published_as from bpfnet_ports, for ports
// published by a build without it.
func (d *Datapath) indexPublished() error {
	type mapping struct {
		k bpf.PortKey
		t bpf.PortTarget
	}
	var all []mapping
	var m mapping
	it := d.ports.Iterate()
	for it.Next(&m.k, &m.t) {
		all = append(all, m)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list published ports: %w", err)
	}
	for _, m := range all {
		if err := d.refTarget(m.k, m.t); err != nil {
			return err
		}
	}
	return nil
}

// remainingMapping finds the one mapping of bpfnet_ports that leads to t
// for proto: a scan, made only when the one bpfnet_published_as named went
// and another is left.
func (d *Datapath) remainingMapping(proto uint8, t bpf.PortTarget) (bpf.PortKey, error) {
	var k bpf.PortKey
	var v bpf.PortTarget
	it := d.ports.Iterate()
	for it.Next(&k, &v) {
		if v == t && k.Proto == proto {
			return k, nil
		}
	}
	if err := it.Err(); err != nil {
		return k, fmt.Errorf("list published ports: %w", err)
	}
	return bpf.PortKey{}, nil // none: unknown, no guess
}

// unrefTarget records that the mapping k no longer leads to t.
func (d *Datapath) unrefTarget(k bpf.PortKey, t bpf.PortTarget) error {
	tk := targetKey(k, t)
	var as bpf.PublishedAs
	if err := d.publishedAs.Lookup(tk, &as); errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil // published before this map existed
	} else if err != nil {
		return fmt.Errorf("read published ports of %v:%d: %w", keyIP(t.Ip), portKey(t.Port), err)
	}
	if as.Mappings <= 1 {
		if err := d.publishedAs.Delete(tk); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("forget published port of %v:%d: %w", keyIP(t.Ip), portKey(t.Port), err)
		}
		return nil
	}
	as.Mappings--
	if as.HostIp == k.HostIp && as.HostPort == k.HostPort {
		as.HostPort = 0 // which mapping is left is unknown: no guess
		if as.Mappings == 1 {
			left, err := d.remainingMapping(k.Proto, t)
			if err != nil {
				return err
			}
			as.HostIp, as.HostPort = left.HostIp, left.HostPort
		}
	}
	if err := d.publishedAs.Update(tk, &as, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("record published port of %v:%d: %w", keyIP(t.Ip), portKey(t.Port), err)
	}
	return nil
}
