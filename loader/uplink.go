package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
)

// AttachUplink puts the uplink program on the ingress of the host device
// ifindex and masquerades containers' flows leaving through it to ip. Call
// it in the instance's host namespace. Attaching again replaces.
func (d *Datapath) AttachUplink(ifindex int, ip netip.Addr) error {
	spec, err := bpf.LoadHost()
	if err != nil {
		return fmt.Errorf("load uplink program spec: %w", err)
	}
	var objs bpf.HostObjects
	if err := spec.LoadAndAssign(&objs, d.loadOptions(spec)); err != nil {
		return fmt.Errorf("load uplink program for ifindex %d: %w", ifindex, err)
	}
	defer objs.BpfnetFromUplink.Close()
	pin := d.linkPin(uplinkLink(ifindex))
	if err := d.attach(ifindex, hook{ingress: true, prog: objs.BpfnetFromUplink, name: bpf.HostProgBpfnetFromUplink}, pin); err != nil {
		return err
	}
	info := bpf.UplinkInfo{Ip: ipKey(ip)}
	if err := d.uplinks.Update(uint32(ifindex), &info, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("register uplink %d: %w", ifindex, err)
	}
	return nil
}

func uplinkLink(ifindex int) string { return fmt.Sprintf("uplink%d_ingress", ifindex) }

// Uplinks returns the registered uplinks and their masquerade addresses.
func (d *Datapath) Uplinks() (map[int]netip.Addr, error) {
	out := map[int]netip.Addr{}
	var ifindex uint32
	var info bpf.UplinkInfo
	it := d.uplinks.Iterate()
	for it.Next(&ifindex, &info) {
		out[int(ifindex)] = keyIP(info.Ip)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list uplinks: %w", err)
	}
	return out, nil
}

// DetachUplink stops masquerading through ifindex and removes its program,
// whichever way it was attached. Call it in the host namespace.
func (d *Datapath) DetachUplink(ifindex int) error {
	if err := d.uplinks.Delete(uint32(ifindex)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister uplink %d: %w", ifindex, err)
	}
	if err := d.unpin(d.linkPin(uplinkLink(ifindex))); err != nil {
		return err
	}
	return detachTC(ifindex, true, bpf.HostProgBpfnetFromUplink)
}

// SetHostIPs replaces the set of addresses the host owns, which decides
// whether a host process's connection goes to a published port.
func (d *Datapath) SetHostIPs(ips []netip.Addr) error {
	want := map[uint32]bool{}
	for _, ip := range ips {
		if ip.Is4() {
			want[ipKey(ip)] = true
		}
	}
	var key uint32
	var val uint8
	var stale []uint32
	it := d.hostIPs.Iterate()
	for it.Next(&key, &val) {
		if !want[key] {
			stale = append(stale, key)
		}
		delete(want, key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	for _, k := range stale {
		if err := d.hostIPs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove host address: %w", err)
		}
	}
	for k := range want {
		if err := d.hostIPs.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add host address: %w", err)
		}
	}
	return nil
}
