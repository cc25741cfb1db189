package ipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Creating networks one after another on an empty host walks Docker's
// default pools in order, 31 subnets, then runs out.
func TestNextSubnetOrder(t *testing.T) {
	want := []string{
		"172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16",
		"172.20.0.0/16", "172.21.0.0/16", "172.22.0.0/16", "172.23.0.0/16",
		"172.24.0.0/16", "172.25.0.0/16", "172.26.0.0/16", "172.27.0.0/16",
		"172.28.0.0/16", "172.29.0.0/16", "172.30.0.0/16", "172.31.0.0/16",
		"192.168.0.0/20", "192.168.16.0/20", "192.168.32.0/20", "192.168.48.0/20",
		"192.168.64.0/20", "192.168.80.0/20", "192.168.96.0/20", "192.168.112.0/20",
		"192.168.128.0/20", "192.168.144.0/20", "192.168.160.0/20", "192.168.176.0/20",
		"192.168.192.0/20", "192.168.208.0/20", "192.168.224.0/20", "192.168.240.0/20",
	}
	var taken []netip.Prefix
	var got []string
	for range len(want) + 1 {
		subnet, err := NextSubnet(DefaultPools, taken, nil)
		if err != nil {
			if !errors.Is(err, ErrNoPool) {
				t.Fatalf("after %d subnets: error %v, want ErrNoPool", len(got), err)
			}
			break
		}
		got = append(got, subnet.String())
		taken = append(taken, subnet)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("subnets in order:\n got %v\nwant %v", got, want)
	}
	_, err := NextSubnet(DefaultPools, taken, nil)
	if err == nil || err.Error() != "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network" {
		t.Fatalf("exhausted: error %v, want Docker's text", err)
	}
}

func TestNextSubnetSkipsTakenAndRouted(t *testing.T) {
	tests := []struct {
		name          string
		pools         []PoolSpec
		taken, routed []netip.Prefix
		want          string // "" = ErrNoPool
	}{
		{name: "empty host", want: "172.17.0.0/16"},
		{name: "docker0 routed", routed: prefixes("172.17.0.0/16"), want: "172.18.0.0/16"},
		{name: "routed 10/8 changes nothing", routed: prefixes("10.0.0.0/8"), want: "172.17.0.0/16"},
		{name: "routed 172.16/12 skips all 172", routed: prefixes("172.16.0.0/12"), want: "192.168.0.0/20"},
		{name: "taken and routed together", taken: prefixes("172.17.0.0/16"), routed: prefixes("172.18.0.0/16"), want: "172.19.0.0/16"},
		{name: "host bits in a taken prefix are ignored", taken: prefixes("172.17.0.1/16"), want: "172.18.0.0/16"},
		{name: "a small route inside a candidate skips it", routed: prefixes("172.17.42.0/24"), want: "172.18.0.0/16"},
		{
			name:   "a route inside a /14 pool skips one /16 of it",
			taken:  prefixes("172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"),
			routed: prefixes("172.20.5.0/24"),
			want:   "172.21.0.0/16",
		},
		{name: "192.168 carved after a LAN route", routed: prefixes("172.16.0.0/12", "192.168.1.0/24"), want: "192.168.16.0/20"},
		{name: "one route covering everything", routed: prefixes("128.0.0.0/1")},
		{name: "all pools routed", routed: prefixes("172.16.0.0/12", "192.168.0.0/16")},
		{
			name:  "custom pool",
			pools: []PoolSpec{{Base: netip.MustParsePrefix("10.10.0.0/16"), Size: 24}},
			taken: prefixes("10.10.0.0/24", "10.10.2.0/24"),
			want:  "10.10.1.0/24",
		},
		{
			name:   "custom pool exhausted by a larger route",
			pools:  []PoolSpec{{Base: netip.MustParsePrefix("10.10.0.0/16"), Size: 24}},
			routed: prefixes("10.0.0.0/8"),
		},
		{
			name:  "jumps past a large taken prefix",
			pools: []PoolSpec{{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24}},
			taken: prefixes("10.0.0.0/9"),
			want:  "10.128.0.0/24",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools := tt.pools
			if pools == nil {
				pools = DefaultPools
			}
			got, err := NextSubnet(pools, tt.taken, tt.routed)
			if tt.want == "" {
				if !errors.Is(err, ErrNoPool) {
					t.Fatalf("got %v, %v; want ErrNoPool", got, err)
				}
				return
			}
			if err != nil || got != netip.MustParsePrefix(tt.want) {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// A clash jumps past the clashing prefix. Stepping one subnet at a time would
// find the same answer after 12 million steps (about half a second); the jump
// takes microseconds, so 100ms separates the two with room for a slow machine.
func TestNextSubnetJumpsPastClashes(t *testing.T) {
	pools := []PoolSpec{{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 32}}
	start := time.Now()
	got, err := NextSubnet(pools, prefixes("10.0.0.0/9"), prefixes("10.128.0.0/10"))
	elapsed := time.Since(start)
	if err != nil || got != netip.MustParsePrefix("10.192.0.0/32") {
		t.Fatalf("got %v, %v; want 10.192.0.0/32", got, err)
	}
	if elapsed > 100*time.Millisecond {
		t.Fatalf("took %v: clashes are stepped through, not jumped over", elapsed)
	}
}

func TestNextSubnetRejectsBadPools(t *testing.T) {
	tests := []struct {
		pool PoolSpec
		want string
	}{
		{PoolSpec{Base: netip.MustParsePrefix("10.0.0.0/16"), Size: 8}, "address pool 0: base 10.0.0.0/16: size /8 is not between /16 and /32"},
		{PoolSpec{Base: netip.MustParsePrefix("10.0.0.0/16"), Size: 33}, "address pool 0: base 10.0.0.0/16: size /33 is not between /16 and /32"},
		{PoolSpec{Base: netip.MustParsePrefix("fd00::/48"), Size: 64}, "address pool 0: base fd00::/48: bpfnet does not support IPv6"},
	}
	for _, tt := range tests {
		_, err := NextSubnet([]PoolSpec{tt.pool}, nil, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("pool %+v: error %v, want %q", tt.pool, err, tt.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"172.17.0.0/16", "172.17.0.0/16", true},
		{"172.17.0.0/16", "172.17.5.0/24", true},
		{"172.17.5.0/24", "172.16.0.0/12", true},
		{"172.17.0.0/16", "172.18.0.0/16", false},
		{"10.0.0.0/30", "10.0.0.4/30", false},
		{"10.0.0.1/24", "10.0.0.200/32", true},
		{"10.0.0.0/8", "::/0", false},
	}
	for _, tt := range tests {
		a, b := netip.MustParsePrefix(tt.a), netip.MustParsePrefix(tt.b)
		if got := Overlaps(a, b); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", a, b, got, tt.want)
		}
		if got := Overlaps(b, a); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", b, a, got, tt.want)
		}
	}
	if Overlaps(netip.Prefix{}, netip.MustParsePrefix("0.0.0.0/0")) {
		t.Error("the zero prefix overlaps 0.0.0.0/0")
	}
}

func TestCheckOverlap(t *testing.T) {
	existing := prefixes("172.17.0.0/16", "192.168.16.0/20")
	tests := []struct {
		subnet  string
		overlap bool
	}{
		{"172.17.0.0/16", true},
		{"172.17.3.0/24", true},
		{"172.16.0.0/12", true},
		{"192.168.20.0/24", true},
		{"172.18.0.0/16", false},
		{"192.168.0.0/20", false},
	}
	for _, tt := range tests {
		err := CheckOverlap(netip.MustParsePrefix(tt.subnet), existing)
		if !tt.overlap {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tt.subnet, err)
			}
			continue
		}
		if !errors.Is(err, ErrPoolOverlap) || err.Error() != "invalid pool request: Pool overlaps with other one on this address space" {
			t.Errorf("%s: error %v, want Docker's pool overlap", tt.subnet, err)
		}
	}
	if err := CheckOverlap(netip.MustParsePrefix("172.17.0.0/16"), nil); err != nil {
		t.Errorf("no existing networks: %v", err)
	}
}
