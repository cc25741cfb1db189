package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseConfigValid(t *testing.T) {
	tests := []struct {
		name                     string
		subnet, ipRange, gateway string
		want                     Config
	}{
		{
			name:   "default gateway of a /16",
			subnet: "172.20.0.0/16",
			want:   Config{Subnet: netip.MustParsePrefix("172.20.0.0/16"), Gateway: netip.MustParseAddr("172.20.0.1")},
		},
		{
			name:   "given gateway",
			subnet: "10.1.0.0/24", gateway: "10.1.0.254",
			want: Config{Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.254")},
		},
		{
			// Docker requests the gateway from the ip-range's pool: its first address.
			name:   "default gateway comes from the ip-range",
			subnet: "172.20.0.0/16", ipRange: "172.20.10.0/24",
			want: Config{
				Subnet:  netip.MustParsePrefix("172.20.0.0/16"),
				IPRange: netip.MustParsePrefix("172.20.10.0/24"),
				Gateway: netip.MustParseAddr("172.20.10.0"),
			},
		},
		{
			name:   "ip-range at the subnet's start skips the network address",
			subnet: "10.0.0.0/24", ipRange: "10.0.0.0/28",
			want: Config{
				Subnet:  netip.MustParsePrefix("10.0.0.0/24"),
				IPRange: netip.MustParsePrefix("10.0.0.0/28"),
				Gateway: netip.MustParseAddr("10.0.0.1"),
			},
		},
		{
			name:   "gateway outside the ip-range, inside the subnet",
			subnet: "172.28.0.0/16", ipRange: "172.28.5.0/24", gateway: "172.28.0.1",
			want: Config{
				Subnet:  netip.MustParsePrefix("172.28.0.0/16"),
				IPRange: netip.MustParsePrefix("172.28.5.0/24"),
				Gateway: netip.MustParseAddr("172.28.0.1"),
			},
		},
		{
			name:   "ip-range host bits are masked, as docker's flag parser does",
			subnet: "172.20.0.0/16", ipRange: "172.20.10.7/24", gateway: "172.20.0.1",
			want: Config{
				Subnet:  netip.MustParsePrefix("172.20.0.0/16"),
				IPRange: netip.MustParsePrefix("172.20.10.0/24"),
				Gateway: netip.MustParseAddr("172.20.0.1"),
			},
		},
		{
			name:   "ip-range equal to the subnet",
			subnet: "10.0.0.0/24", ipRange: "10.0.0.0/24",
			want: Config{
				Subnet:  netip.MustParsePrefix("10.0.0.0/24"),
				IPRange: netip.MustParsePrefix("10.0.0.0/24"),
				Gateway: netip.MustParseAddr("10.0.0.1"),
			},
		},
		{
			name:   "/30",
			subnet: "10.0.0.0/30",
			want:   Config{Subnet: netip.MustParsePrefix("10.0.0.0/30"), Gateway: netip.MustParseAddr("10.0.0.1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.subnet, tt.ipRange, tt.gateway)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseConfigInvalid(t *testing.T) {
	tests := []struct {
		name                     string
		subnet, ipRange, gateway string
		want                     string
		is                       error
	}{
		{name: "no subnet", want: "no subnet given: pick one with NextSubnet first"},
		{
			name: "subnet not CIDR", subnet: "foo",
			want: "invalid network config:\ninvalid subnet foo: invalid CIDR block notation",
		},
		{
			name: "subnet without a length", subnet: "10.0.0.0",
			want: "invalid network config:\ninvalid subnet 10.0.0.0: invalid CIDR block notation",
		},
		{
			name: "subnet length too long", subnet: "10.0.0.0/33",
			want: "invalid network config:\ninvalid subnet 10.0.0.0/33: invalid CIDR block notation",
		},
		{
			name: "subnet with host bits", subnet: "172.20.1.0/16",
			want: "invalid network config:\ninvalid subnet 172.20.1.0/16: it should be 172.20.0.0/16",
		},
		{
			name: "IPv6 subnet", subnet: "fd00::/64",
			want: "invalid subnet fd00::/64: bpfnet does not support IPv6", is: ErrIPv6NotSupported,
		},
		{
			name: "IPv6 ip-range", subnet: "10.0.0.0/24", ipRange: "fd00::/64",
			want: "invalid ip-range fd00::/64: bpfnet does not support IPv6", is: ErrIPv6NotSupported,
		},
		{
			name: "IPv6 gateway", subnet: "10.0.0.0/24", gateway: "fd00::1",
			want: "invalid gateway fd00::1: bpfnet does not support IPv6", is: ErrIPv6NotSupported,
		},
		{
			name: "ip-range not CIDR", subnet: "10.0.0.0/24", ipRange: "bar",
			want: "invalid network config:\ninvalid ip-range bar: invalid CIDR block notation",
		},
		{
			name: "gateway not an address", subnet: "10.0.0.0/24", gateway: "baz",
			want: "invalid network config:\ninvalid gateway baz: invalid address",
		},
		{
			name: "gateway with a length", subnet: "10.0.0.0/24", gateway: "10.0.0.1/24",
			want: "invalid network config:\ninvalid gateway 10.0.0.1/24: invalid address",
		},
		{
			name: "ip-range and gateway both malformed", subnet: "10.0.0.0/24", ipRange: "bar", gateway: "baz",
			want: "invalid network config:\n* invalid ip-range bar: invalid CIDR block notation\n* invalid gateway baz: invalid address",
		},
		{
			name: "gateway outside the subnet", subnet: "10.0.0.0/24", gateway: "10.1.0.1",
			want: "no matching subnet for gateway 10.1.0.1",
		},
		{
			name: "ip-range outside the subnet", subnet: "10.0.0.0/24", ipRange: "10.1.0.0/24",
			want: "no matching subnet for range 10.1.0.0/24",
		},
		{
			name: "ip-range checked before gateway", subnet: "10.0.0.0/24", ipRange: "10.1.0.0/24", gateway: "10.2.0.1",
			want: "no matching subnet for range 10.1.0.0/24",
		},
		{
			name: "ip-range bigger than the subnet", subnet: "10.0.0.0/24", ipRange: "10.0.0.0/16",
			want: "invalid network config:\ninvalid ip-range 10.0.0.0/16: CIDR block is bigger than its parent subnet 10.0.0.0/24",
		},
		{
			name: "daemon problems are reported together", subnet: "10.0.0.7/24", ipRange: "10.0.0.0/23",
			want: "invalid network config:\n" +
				"* invalid subnet 10.0.0.7/24: it should be 10.0.0.0/24\n" +
				"* invalid ip-range 10.0.0.0/23: CIDR block is bigger than its parent subnet 10.0.0.7/24",
		},
		{
			name: "gateway is the network address", subnet: "10.0.0.0/24", gateway: "10.0.0.0",
			want: "failed to allocate gateway (10.0.0.0): Address already in use", is: ErrAddressInUse,
		},
		{
			name: "gateway is the broadcast address", subnet: "10.0.0.0/24", gateway: "10.0.0.255",
			want: "failed to allocate gateway (10.0.0.255): Address already in use", is: ErrAddressInUse,
		},
		{
			name: "ip-range holds only the broadcast address", subnet: "10.0.0.0/24", ipRange: "10.0.0.255/32",
			want: "failed to allocate gateway (): no available addresses on this pool", is: ErrNoAvailableIPs,
		},
		{
			// Docker would take 10.0.0.0, the network address, as the gateway.
			name: "/31", subnet: "10.0.0.0/31",
			want: "invalid subnet 10.0.0.0/31: " + ErrSubnetTooSmall.Error(), is: ErrSubnetTooSmall,
		},
		{
			name: "/31 with a gateway given", subnet: "10.0.0.0/31", gateway: "10.0.0.1",
			want: "invalid subnet 10.0.0.0/31: " + ErrSubnetTooSmall.Error(), is: ErrSubnetTooSmall,
		},
		{
			name: "/32", subnet: "10.0.0.5/32",
			want: "invalid subnet 10.0.0.5/32: " + ErrSubnetTooSmall.Error(), is: ErrSubnetTooSmall,
		},
		{
			name: "loopback", subnet: "127.0.0.0/8",
			want: "invalid subnet 127.0.0.0/8: it overlaps 127.0.0.0/8 (loopback), " + ErrSpecialPurpose.Error(), is: ErrSpecialPurpose,
		},
		{
			name: "special range before size", subnet: "169.254.1.1/32",
			want: "invalid subnet 169.254.1.1/32: it overlaps 169.254.0.0/16 (link-local), " + ErrSpecialPurpose.Error(), is: ErrSpecialPurpose,
		},
		{
			name: "docker's checks before bpfnet's", subnet: "127.0.0.1/8",
			want: "invalid network config:\ninvalid subnet 127.0.0.1/8: it should be 127.0.0.0/8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.subnet, tt.ipRange, tt.gateway)
			if err == nil {
				t.Fatalf("got %+v, want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n got %q\nwant %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if got != (Config{}) {
				t.Fatalf("config %+v returned with an error", got)
			}
		})
	}
}
