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

// The helpers below do address arithmetic on the numeric value of an IPv4
// address (172.20.0.1 = 0xac140001). The datapath's layout of addresses is
// the loader's business.

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
