package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckUsable(t *testing.T) {
	tests := []struct {
		subnet string
		is     error // nil: usable
	}{
		{"172.17.0.0/16", nil},
		{"10.0.0.0/8", nil},
		{"192.168.0.0/30", nil},
		{"1.0.0.0/8", nil},          // just past "this network"
		{"126.255.255.252/30", nil}, // just before loopback
		{"128.0.0.0/16", nil},       // just after loopback
		{"169.253.255.252/30", nil},
		{"169.255.0.0/16", nil},
		{"223.255.255.0/24", nil}, // just before multicast
		{"0.0.0.0/8", ErrSpecialPurpose},
		{"0.0.0.0/0", ErrSpecialPurpose}, // overlaps every range
		{"0.255.255.252/30", ErrSpecialPurpose},
		{"127.0.0.0/8", ErrSpecialPurpose},
		{"127.1.2.0/24", ErrSpecialPurpose},
		{"126.0.0.0/7", ErrSpecialPurpose}, // holds 127/8
		{"169.254.0.0/16", ErrSpecialPurpose},
		{"169.254.169.252/30", ErrSpecialPurpose},
		{"169.0.0.0/8", ErrSpecialPurpose},
		{"224.0.0.0/4", ErrSpecialPurpose},
		{"239.255.255.0/24", ErrSpecialPurpose},
		{"192.0.0.0/2", ErrSpecialPurpose}, // 192-255: multicast and class E
		{"240.0.0.0/4", ErrSpecialPurpose},
		{"255.255.255.252/30", ErrSpecialPurpose}, // holds the limited broadcast
		{"10.0.0.0/31", ErrSubnetTooSmall},
		{"10.0.0.1/32", ErrSubnetTooSmall},
	}
	for _, tt := range tests {
		err := CheckUsable(netip.MustParsePrefix(tt.subnet))
		if tt.is == nil && err != nil || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("CheckUsable(%s) = %v, want %v", tt.subnet, err, tt.is)
		}
	}
}

// Whatever ParseConfig accepts has its ip-range inside the subnet, a
// gateway that is neither the network nor the broadcast address, and room
// for a container: tried over every combination of a few shapes.
func TestParseConfigAcceptsOnlyUsable(t *testing.T) {
	subnets := []string{"10.0.0.0/24", "10.0.0.0/30", "10.0.0.0/31", "10.0.0.4/30", "10.0.1.0/24"}
	ranges := []string{"", "10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/30", "10.0.0.4/30", "10.0.0.252/30",
		"10.0.0.255/32", "10.0.0.0/23", "10.0.1.0/24"}
	gateways := []string{"", "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.254", "10.0.0.255", "10.0.1.1"}
	accepted := 0
	for _, s := range subnets {
		for _, r := range ranges {
			for _, g := range gateways {
				cfg, err := ParseConfig(s, r, g)
				if err != nil {
					continue
				}
				accepted++
				if cfg.IPRange.IsValid() && (!cfg.Subnet.Contains(cfg.IPRange.Addr()) || !cfg.Subnet.Contains(lastAddr(cfg.IPRange))) {
					t.Errorf("ParseConfig(%s, %s, %s): ip-range %s outside the subnet", s, r, g, cfg.IPRange)
				}
				if !cfg.Subnet.Contains(cfg.Gateway) || isNetworkOrBroadcast(cfg.Subnet, cfg.Gateway) ||
					cfg.Gateway == cfg.Subnet.Masked().Addr() || cfg.Gateway == Broadcast(cfg.Subnet) {
					t.Errorf("ParseConfig(%s, %s, %s): gateway %s is not a usable host address", s, r, g, cfg.Gateway)
				}
				if _, err := cfg.Allocate(netip.Addr{}, nil); err != nil && cfg.IPRange == (netip.Prefix{}) {
					t.Errorf("ParseConfig(%s, %s, %s): no room for a container: %v", s, r, g, err)
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("ParseConfig accepted nothing")
	}
}
