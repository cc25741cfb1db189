package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

func mustConfig(t *testing.T, subnet, ipRange, gateway string) Config {
	t.Helper()
	cfg, err := ParseConfig(subnet, ipRange, gateway)
	if err != nil {
		t.Fatalf("ParseConfig(%q, %q, %q): %v", subnet, ipRange, gateway, err)
	}
	return cfg
}

func addrSet(ss ...string) Used {
	var addrs []netip.Addr
	for _, s := range ss {
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	return NewUsed(addrs...)
}

func TestAllocateLowestFree(t *testing.T) {
	tests := []struct {
		name                     string
		subnet, ipRange, gateway string
		used                     []string
		want                     string // "" = ErrNoAvailableIPs
	}{
		{name: "first container", subnet: "172.20.0.0/16", want: "172.20.0.2"},
		{name: "next after one", subnet: "172.20.0.0/16", used: []string{"172.20.0.2"}, want: "172.20.0.3"},
		{name: "fills a hole", subnet: "172.20.0.0/16", used: []string{"172.20.0.2", "172.20.0.4"}, want: "172.20.0.3"},
		{name: "skips a gateway set high", subnet: "10.0.0.0/24", gateway: "10.0.0.2", used: []string{"10.0.0.1"}, want: "10.0.0.3"},
		{name: "crosses an octet", subnet: "10.0.0.0/16", used: rangeOf(t, "10.0.0.2", "10.0.0.255"), want: "10.0.1.0"},
		{name: "ip-range first address", subnet: "172.20.0.0/16", ipRange: "172.20.10.0/24", gateway: "172.20.0.1", want: "172.20.10.0"},
		{name: "ip-range next", subnet: "172.20.0.0/16", ipRange: "172.20.10.0/24", gateway: "172.20.0.1", used: []string{"172.20.10.0"}, want: "172.20.10.1"},
		{name: "ip-range with its default gateway", subnet: "172.20.0.0/16", ipRange: "172.20.10.0/24", want: "172.20.10.1"},
		{name: "ip-range at the subnet's start", subnet: "10.0.0.0/24", ipRange: "10.0.0.0/30", gateway: "10.0.0.254", want: "10.0.0.1"},
		{
			name: "ip-range full though the subnet is not", subnet: "10.0.0.0/24", ipRange: "10.0.0.8/30", gateway: "10.0.0.1",
			used: []string{"10.0.0.8", "10.0.0.9", "10.0.0.10", "10.0.0.11"},
		},
		{
			name: "subnet broadcast excluded from the ip-range", subnet: "10.0.0.0/24", ipRange: "10.0.0.252/30", gateway: "10.0.0.1",
			used: []string{"10.0.0.252", "10.0.0.253"}, want: "10.0.0.254",
		},
		{
			name: "ip-range holds only the broadcast once .254 is used", subnet: "10.0.0.0/24", ipRange: "10.0.0.252/30", gateway: "10.0.0.1",
			used: []string{"10.0.0.252", "10.0.0.253", "10.0.0.254"},
		},
		{name: "/30 holds one container", subnet: "10.0.0.0/30", want: "10.0.0.2"},
		{name: "/30 full after one", subnet: "10.0.0.0/30", used: []string{"10.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t, tt.subnet, tt.ipRange, tt.gateway)
			got, err := cfg.Allocate(netip.Addr{}, addrSet(tt.used...))
			if tt.want == "" {
				if !errors.Is(err, ErrNoAvailableIPs) || err.Error() != "no available addresses on this pool" {
					t.Fatalf("got %v, %v; want ErrNoAvailableIPs", got, err)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func rangeOf(t *testing.T, from, to string) []string {
	t.Helper()
	var out []string
	for a := netip.MustParseAddr(from); a.Compare(netip.MustParseAddr(to)) <= 0; a = a.Next() {
		out = append(out, a.String())
	}
	return out
}

func TestAllocateRequested(t *testing.T) {
	cfg := mustConfig(t, "172.20.0.0/16", "172.20.10.0/24", "172.20.0.1")
	used := addrSet("172.20.10.0", "172.20.0.9")
	tests := []struct {
		name, requested string
		want            string // the address, or the error's text
		is              error
	}{
		{name: "inside the ip-range", requested: "172.20.10.50", want: "172.20.10.50"},
		{name: "outside the ip-range, inside the subnet", requested: "172.20.0.50", want: "172.20.0.50"},
		{name: "IPv4-mapped form", requested: "::ffff:172.20.0.51", want: "172.20.0.51"},
		{name: "in use", requested: "172.20.0.9", want: "Address already in use", is: ErrAddressInUse},
		{name: "the gateway", requested: "172.20.0.1", want: "Address already in use", is: ErrAddressInUse},
		{name: "the network address", requested: "172.20.0.0", want: "Address already in use", is: ErrAddressInUse},
		{name: "the broadcast address", requested: "172.20.255.255", want: "Address already in use", is: ErrAddressInUse},
		{
			name: "outside the subnet", requested: "10.9.9.9",
			want: "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.9.9.9",
			is:   ErrAddressNotInSubnet,
		},
		{
			name: "unspecified", requested: "0.0.0.0",
			want: "invalid endpoint settings:\n* invalid IPv4 address: 0.0.0.0\n* no configured subnet or ip-range contain the IP address 0.0.0.0",
			is:   ErrAddressNotInSubnet,
		},
		{
			name: "IPv6", requested: "fd00::1",
			want: "invalid endpoint settings:\n* invalid IPv4 address: fd00::1\n* no configured subnet or ip-range contain the IP address fd00::1",
			is:   ErrAddressNotInSubnet,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfg.Allocate(netip.MustParseAddr(tt.requested), used)
			if tt.is == nil {
				if err != nil || got != netip.MustParseAddr(tt.want) {
					t.Fatalf("got %v, %v; want %s", got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, tt.is) {
				t.Fatalf("got %v, %v; want error %q (errors.Is %v)", got, err, tt.want, tt.is)
			}
			if got.IsValid() {
				t.Fatalf("address %v returned with an error", got)
			}
		})
	}
}

// storedConfig is a network's IPAM as an older bpfnet stored it, before
// ParseConfig refused subnets smaller than a /30: the gateway is the
// subnet's first address, as Docker picks it.
func storedConfig(subnet string) Config {
	p := netip.MustParsePrefix(subnet)
	return Config{Subnet: p, Gateway: p.Addr()}
}

// In subnets of one or two addresses Docker reserves no network or broadcast
// address; a stored /31 or /32 network still allocates that way.
func TestAllocateStoredSmallSubnets(t *testing.T) {
	p2p := storedConfig("10.0.0.0/31")
	if got, err := p2p.Allocate(netip.Addr{}, nil); err != nil || got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("/31 first free: got %v, %v; want 10.0.0.1", got, err)
	}
	if got, err := p2p.Allocate(netip.Addr{}, addrSet("10.0.0.1")); !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("/31 full after one: got %v, %v; want ErrNoAvailableIPs", got, err)
	}
	if got, err := storedConfig("10.0.0.5/32").Allocate(netip.Addr{}, nil); !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("/32: got %v, %v; want ErrNoAvailableIPs", got, err)
	}
}

// A container may ask for either end of a stored /31.
func TestAllocateRequestedSmallSubnets(t *testing.T) {
	p2p := storedConfig("10.0.0.0/31")
	if got, err := p2p.Allocate(netip.MustParseAddr("10.0.0.1"), nil); err != nil || got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("/31 second address: got %v, %v", got, err)
	}
	if _, err := p2p.Allocate(netip.MustParseAddr("10.0.0.0"), nil); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("/31 gateway address: error %v, want ErrAddressInUse", err)
	}
	host := storedConfig("10.0.0.5/32")
	if _, err := host.Allocate(netip.MustParseAddr("10.0.0.5"), nil); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("/32 only address (the gateway): error %v, want ErrAddressInUse", err)
	}
}

// A Config read back from storage may carry an ip-range wider than its subnet;
// addresses still come from the subnet only.
func TestAllocateClampsRangeToSubnet(t *testing.T) {
	cfg := Config{
		Subnet:  netip.MustParsePrefix("10.0.0.0/24"),
		IPRange: netip.MustParsePrefix("10.0.0.0/16"),
		Gateway: netip.MustParseAddr("10.0.0.1"),
	}
	got, err := cfg.Allocate(netip.Addr{}, addrSet(rangeOf(t, "10.0.0.2", "10.0.0.254")...))
	if !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("got %v, %v; want ErrNoAvailableIPs", got, err)
	}
}

func TestAllocateNeedsSubnet(t *testing.T) {
	_, err := Config{}.Allocate(netip.Addr{}, nil)
	if err == nil || err.Error() != "ipam config has no IPv4 subnet" {
		t.Fatalf("error %v", err)
	}
}

// Exhausting a /24 one container at a time hands out .2 to .254 in order.
func TestAllocateExhaustsInOrder(t *testing.T) {
	cfg := mustConfig(t, "192.168.5.0/24", "", "")
	var used Used
	want := netip.MustParseAddr("192.168.5.2")
	for ; want != netip.MustParseAddr("192.168.5.255"); want = want.Next() {
		got, err := cfg.Allocate(netip.Addr{}, used)
		if err != nil || got != want {
			t.Fatalf("got %v, %v; want %v", got, err, want)
		}
		used = NewUsed(append(used, got)...)
	}
	if _, err := cfg.Allocate(netip.Addr{}, used); !errors.Is(err, ErrNoAvailableIPs) {
		t.Fatalf("after %d containers: error %v, want ErrNoAvailableIPs", len(used), err)
	}
	if len(used) != 253 {
		t.Fatalf("%d containers fit, want 253", len(used))
	}
}
