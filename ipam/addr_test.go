package ipam

import (
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
