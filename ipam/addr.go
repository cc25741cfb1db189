package ipam

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// MAC is Docker's MAC for an IPv4 address: 02:42 followed by the four address
// bytes (02 = locally administered, unicast). Nil for anything but IPv4.
func MAC(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// Broadcast returns the last address of the subnet: x.x.255.255 for a /16,
// the second address of a /31, the address itself for a /32. Zero for
// anything but an IPv4 prefix.
func Broadcast(subnet netip.Prefix) netip.Addr {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return netip.Addr{}
	}
	return lastAddr(subnet)
}

// The eBPF structs (bpf/lib/common.h) hold addresses as __u32 fields whose
// bytes are in network order, and cilium/ebpf copies a Go uint32 into them in
// the host's byte order. So Mask, Network and NetworkOrder return the uint32
// whose in-memory bytes, in host order, are the address's four bytes in
// network order: binary.NativeEndian.Uint32(addr.As4()). Assign them to the
// bpf2go struct fields as they are, never through htonl-like swaps. On a
// little-endian host 172.20.0.0 is 0x000014ac and a /16 mask 0x0000ffff.

// Mask returns the subnet's netmask (255.255.0.0 for a /16) as described
// above; 0 for anything but an IPv4 prefix.
func Mask(subnet netip.Prefix) uint32 {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return 0
	}
	return binary.NativeEndian.Uint32(net.CIDRMask(subnet.Bits(), 32))
}

// Network returns the subnet's masked address as described above; 0 for
// anything but an IPv4 prefix.
func Network(subnet netip.Prefix) uint32 {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return 0
	}
	return NetworkOrder(subnet.Masked().Addr())
}

// NetworkOrder returns ip as described above, for the endpoint's own and
// gateway addresses and for map keys; 0 for anything but IPv4.
func NetworkOrder(ip netip.Addr) uint32 {
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0
	}
	a := ip.As4()
	return binary.NativeEndian.Uint32(a[:])
}

// The helpers below do address arithmetic on the numeric value of an IPv4
// address (172.20.0.1 = 0xac140001), unrelated to the eBPF layout above.

func toUint32(ip netip.Addr) uint32 {
	a := ip.As4()
	return binary.BigEndian.Uint32(a[:])
}

func fromUint32(v uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// span returns the first and last address of p as numbers.
func span(p netip.Prefix) (uint32, uint32) {
	first := toUint32(p.Masked().Addr())
	return first, first | ^uint32(0)>>p.Bits()
}

func lastAddr(p netip.Prefix) netip.Addr {
	_, last := span(p)
	return fromUint32(last)
}
