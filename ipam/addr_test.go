package ipam

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestMAC(t *testing.T) {
	tests := []struct {
		ip   string
		want net.HardwareAddr
		text string
	}{
		{"172.17.0.2", net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, "02:42:ac:11:00:02"},
		{"192.168.16.255", net.HardwareAddr{0x02, 0x42, 0xc0, 0xa8, 0x10, 0xff}, "02:42:c0:a8:10:ff"},
		{"::ffff:10.0.0.1", net.HardwareAddr{0x02, 0x42, 0x0a, 0x00, 0x00, 0x01}, "02:42:0a:00:00:01"},
	}
	for _, tt := range tests {
		got := MAC(netip.MustParseAddr(tt.ip))
		if !slices.Equal(got, tt.want) || got.String() != tt.text {
			t.Errorf("MAC(%s) = %v, want %v", tt.ip, got, tt.text)
		}
	}
	if got := MAC(netip.MustParseAddr("fd00::1")); got != nil {
		t.Errorf("MAC(fd00::1) = %v, want nil", got)
	}
}

func TestBroadcast(t *testing.T) {
	tests := []struct{ subnet, want string }{
		{"172.17.0.0/16", "172.17.255.255"},
		{"192.168.16.0/20", "192.168.31.255"},
		{"10.0.0.0/30", "10.0.0.3"},
		{"10.0.0.0/31", "10.0.0.1"},
		{"10.0.0.5/32", "10.0.0.5"},
		{"10.1.2.3/8", "10.255.255.255"},
		{"0.0.0.0/0", "255.255.255.255"},
	}
	for _, tt := range tests {
		if got := Broadcast(netip.MustParsePrefix(tt.subnet)); got != netip.MustParseAddr(tt.want) {
			t.Errorf("Broadcast(%s) = %v, want %s", tt.subnet, got, tt.want)
		}
	}
	if got := Broadcast(netip.MustParsePrefix("fd00::/64")); got.IsValid() {
		t.Errorf("Broadcast(fd00::/64) = %v, want the zero Addr", got)
	}
}

// nativeBytes is how the value lies in an eBPF struct field: the datapath
// compares those bytes with packet headers, so they must be network order.
func nativeBytes(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func TestMaskNetworkNetworkOrder(t *testing.T) {
	tests := []struct {
		subnet      string
		mask, netwk []byte
	}{
		{"172.20.0.0/16", []byte{255, 255, 0, 0}, []byte{172, 20, 0, 0}},
		{"172.20.1.9/16", []byte{255, 255, 0, 0}, []byte{172, 20, 0, 0}},
		{"192.168.16.0/20", []byte{255, 255, 240, 0}, []byte{192, 168, 16, 0}},
		{"10.0.0.0/31", []byte{255, 255, 255, 254}, []byte{10, 0, 0, 0}},
		{"10.0.0.5/32", []byte{255, 255, 255, 255}, []byte{10, 0, 0, 5}},
		{"0.0.0.0/0", []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.subnet)
		if got := nativeBytes(Mask(p)); !slices.Equal(got, tt.mask) {
			t.Errorf("Mask(%s) lies as %v, want %v", p, got, tt.mask)
		}
		if got := nativeBytes(Network(p)); !slices.Equal(got, tt.netwk) {
			t.Errorf("Network(%s) lies as %v, want %v", p, got, tt.netwk)
		}
	}
	if got := nativeBytes(NetworkOrder(netip.MustParseAddr("172.20.0.1"))); !slices.Equal(got, []byte{172, 20, 0, 1}) {
		t.Errorf("NetworkOrder(172.20.0.1) lies as %v", got)
	}
	// The datapath's test, (addr & mask) == network, holds on the raw values.
	p := netip.MustParsePrefix("172.20.0.0/16")
	in, out := NetworkOrder(netip.MustParseAddr("172.20.3.4")), NetworkOrder(netip.MustParseAddr("172.21.0.1"))
	if in&Mask(p) != Network(p) || out&Mask(p) == Network(p) {
		t.Error("(addr & Mask) == Network does not tell 172.20.3.4 (in) from 172.21.0.1 (out)")
	}
	v6 := netip.MustParsePrefix("fd00::/64")
	if Mask(v6) != 0 || Network(v6) != 0 || NetworkOrder(v6.Addr()) != 0 {
		t.Error("IPv6 input gave a non-zero value")
	}
}
