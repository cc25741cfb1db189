package ports

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

var lanIP = netip.MustParseAddr("192.168.1.10")

func fixed(ip netip.Addr, host, container uint16, proto Proto) Mapping {
	return Mapping{HostIP: ip, HostPort: host, HostPortEnd: host, ContainerPort: container, Proto: proto}
}

func unpicked(ip netip.Addr, container uint16, proto Proto) Mapping {
	return Mapping{HostIP: ip, ContainerPort: container, Proto: proto}
}

func TestAssign(t *testing.T) {
	all := netip.Addr{}
	small := Ephemeral{First: 40000, Last: 40004}
	tests := []struct {
		name  string
		alloc Allocator
		in    []Mapping
		want  []Mapping
	}{
		{"fixed ports are kept", Allocator{}, []Mapping{fixed(all, 8080, 80, TCP), fixed(loopback, 9090, 90, UDP)},
			[]Mapping{fixed(all, 8080, 80, TCP), fixed(loopback, 9090, 90, UDP)}},
		{"a fixed port held for the other protocol is free",
			Allocator{Existing: Mappings{fixed(all, 8080, 80, UDP)}},
			[]Mapping{fixed(all, 8080, 80, TCP)}, []Mapping{fixed(all, 8080, 80, TCP)}},
		{"two specific addresses do not clash",
			Allocator{Existing: Mappings{fixed(loopback, 8080, 80, TCP)}},
			[]Mapping{fixed(lanIP, 8080, 80, TCP)}, []Mapping{fixed(lanIP, 8080, 80, TCP)}},
		{"a host range picks its first free port",
			Allocator{Existing: Mappings{fixed(all, 8000, 80, TCP), fixed(loopback, 8001, 80, TCP)}},
			[]Mapping{{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: TCP}},
			[]Mapping{fixed(all, 8002, 80, TCP)}},
		{"a host range skips host sockets and ports picked earlier in the request",
			Allocator{HostBusy: func(_ netip.Addr, port uint16, _ Proto) bool { return port == 8000 }},
			[]Mapping{{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: TCP}, {HostPort: 8000, HostPortEnd: 8010, ContainerPort: 81, Proto: TCP}},
			[]Mapping{fixed(all, 8001, 80, TCP), fixed(all, 8002, 81, TCP)}},
		{"a range maps one to one", Allocator{},
			[]Mapping{fixed(all, 7000, 7000, TCP), fixed(all, 7001, 7001, TCP), fixed(all, 7002, 7002, TCP)},
			[]Mapping{fixed(all, 7000, 7000, TCP), fixed(all, 7001, 7001, TCP), fixed(all, 7002, 7002, TCP)}},
		{"-P starts at the first ephemeral port and goes up", Allocator{Ephemeral: small},
			[]Mapping{unpicked(all, 80, TCP), unpicked(all, 443, TCP)},
			[]Mapping{fixed(all, 40000, 80, TCP), fixed(all, 40001, 443, TCP)}},
		{"-P skips reserved ports",
			Allocator{Ephemeral: Ephemeral{First: 40000, Last: 40004, Reserved: map[uint16]bool{40000: true, 40001: true, 40003: true}}},
			[]Mapping{unpicked(all, 80, TCP), unpicked(all, 81, TCP)},
			[]Mapping{fixed(all, 40002, 80, TCP), fixed(all, 40004, 81, TCP)}},
		{"-P continues after the highest port held, as dockerd's rotor does",
			Allocator{Ephemeral: small, Existing: Mappings{fixed(all, 40002, 80, TCP), fixed(all, 40000, 80, TCP)}},
			[]Mapping{unpicked(all, 80, TCP)}, []Mapping{fixed(all, 40003, 80, TCP)}},
		{"-P wraps around to the start of the range",
			Allocator{Ephemeral: small, Existing: Mappings{fixed(all, 40004, 80, TCP), fixed(all, 40001, 80, TCP)}},
			[]Mapping{unpicked(all, 80, TCP), unpicked(all, 81, TCP)},
			[]Mapping{fixed(all, 40000, 80, TCP), fixed(all, 40002, 81, TCP)}},
		{"-P ignores the other protocol and non-overlapping addresses",
			Allocator{Ephemeral: small, Existing: Mappings{fixed(all, 40003, 53, UDP), fixed(lanIP, 40002, 80, TCP)}},
			[]Mapping{unpicked(loopback, 80, TCP)}, []Mapping{fixed(loopback, 40000, 80, TCP)}},
		{"-P skips host sockets", Allocator{Ephemeral: small, HostBusy: func(ip netip.Addr, port uint16, proto Proto) bool {
			return ip == netip.IPv4Unspecified() && proto == UDP && port < 40003
		}}, []Mapping{unpicked(all, 53, UDP)}, []Mapping{fixed(all, 40003, 53, UDP)}},
		{"-P with no range falls back to dockerd's 49153-60999", Allocator{},
			[]Mapping{unpicked(all, 80, TCP)}, []Mapping{fixed(all, 49153, 80, TCP)}},
	}
	for _, tt := range tests {
		got, err := tt.alloc.Assign(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Assign = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestAssignConflicts(t *testing.T) {
	all := netip.Addr{}
	tests := []struct {
		name   string
		alloc  Allocator
		in     []Mapping
		wantIs error
		want   string
	}{
		{"held by another container", Allocator{Existing: Mappings{fixed(all, 8080, 80, TCP)}},
			[]Mapping{fixed(all, 8080, 8080, TCP)}, ErrPortAllocated, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"0.0.0.0 wanted, 127.0.0.1 held", Allocator{Existing: Mappings{fixed(loopback, 8080, 80, TCP)}},
			[]Mapping{fixed(all, 8080, 80, TCP)}, ErrPortAllocated, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"127.0.0.1 wanted, 0.0.0.0 held", Allocator{Existing: Mappings{fixed(all, 8080, 80, TCP)}},
			[]Mapping{fixed(loopback, 8080, 80, TCP)}, ErrPortAllocated, "Bind for 127.0.0.1:8080 failed: port is already allocated"},
		{"explicit 0.0.0.0 held", Allocator{Existing: Mappings{fixed(netip.IPv4Unspecified(), 8080, 80, UDP)}},
			[]Mapping{fixed(lanIP, 8080, 80, UDP)}, ErrPortAllocated, "Bind for 192.168.1.10:8080 failed: port is already allocated"},
		{"same specific address held", Allocator{Existing: Mappings{fixed(loopback, 9090, 90, UDP)}},
			[]Mapping{fixed(loopback, 9090, 91, UDP)}, ErrPortAllocated, "Bind for 127.0.0.1:9090 failed: port is already allocated"},
		{"held by a host socket", Allocator{HostBusy: func(ip netip.Addr, port uint16, proto Proto) bool {
			return ip == netip.IPv4Unspecified() && port == 8080 && proto == TCP
		}}, []Mapping{fixed(all, 8080, 80, TCP)}, ErrPortAllocated, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"twice in one request", Allocator{},
			[]Mapping{fixed(all, 8080, 80, TCP), fixed(all, 8080, 81, TCP)}, ErrPortAllocated, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"fails in the middle of a range", Allocator{Existing: Mappings{fixed(all, 7001, 1, TCP)}},
			[]Mapping{fixed(all, 7000, 7000, TCP), fixed(all, 7001, 7001, TCP), fixed(all, 7002, 7002, TCP)},
			ErrPortAllocated, "Bind for 0.0.0.0:7001 failed: port is already allocated"},
		{"host range exhausted", Allocator{Existing: Mappings{fixed(all, 8000, 80, TCP), fixed(all, 8001, 80, TCP)}},
			[]Mapping{{HostPort: 8000, HostPortEnd: 8001, ContainerPort: 80, Proto: TCP}}, ErrAllPortsAllocated, "all ports are allocated"},
		{"ephemeral range exhausted by reserved and held ports",
			Allocator{Ephemeral: Ephemeral{First: 40000, Last: 40002, Reserved: map[uint16]bool{40000: true}},
				Existing: Mappings{fixed(all, 40001, 80, TCP)}},
			[]Mapping{unpicked(all, 80, TCP), unpicked(all, 81, TCP)}, ErrAllPortsAllocated, "all ports are allocated"},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		var existing Mappings
		if tt.alloc.Existing != nil {
			existing = slices.Clone(tt.alloc.Existing.(Mappings))
		}
		got, err := tt.alloc.Assign(in)
		if got != nil || err == nil || err.Error() != tt.want || !errors.Is(err, tt.wantIs) {
			t.Errorf("%s: Assign = %+v, %v; want nil and %q (%v)", tt.name, got, err, tt.want, tt.wantIs)
		}
		if !reflect.DeepEqual(in, tt.in) || (existing != nil && !reflect.DeepEqual(tt.alloc.Existing, existing)) {
			t.Errorf("%s: Assign changed its input or Existing", tt.name)
		}
	}
}

// Assign's result is a fresh slice: filling in host ports must not write
// through to the caller's parsed mappings.
func TestAssignLeavesInputAlone(t *testing.T) {
	in := []Mapping{unpicked(netip.Addr{}, 80, TCP), {HostPort: 8000, HostPortEnd: 8010, ContainerPort: 81, Proto: TCP}}
	before := slices.Clone(in)
	got, err := Allocator{Ephemeral: Ephemeral{First: 40000, Last: 40010}}.Assign(in)
	want := []Mapping{fixed(netip.Addr{}, 40000, 80, TCP), fixed(netip.Addr{}, 8000, 81, TCP)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Assign = %+v, %v; want %+v", got, err, want)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("Assign changed its input to %+v", in)
	}
}
