package ports

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func TestParseForms(t *testing.T) {
	lan := netip.MustParseAddr("192.168.1.100")
	tests := []struct {
		spec string
		want []Mapping
	}{
		{"8080:80", []Mapping{{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP}}},
		{"127.0.0.1:9090:90/udp", []Mapping{{HostIP: loopback, HostPort: 9090, HostPortEnd: 9090, ContainerPort: 90, Proto: UDP}}},
		{"7000-7002:7000-7002", []Mapping{
			{HostPort: 7000, HostPortEnd: 7000, ContainerPort: 7000, Proto: TCP},
			{HostPort: 7001, HostPortEnd: 7001, ContainerPort: 7001, Proto: TCP},
			{HostPort: 7002, HostPortEnd: 7002, ContainerPort: 7002, Proto: TCP},
		}},
		// One to one, in order, even when the two ranges are not the same ports.
		{"9090-9091:8080-8081/udp", []Mapping{
			{HostPort: 9090, HostPortEnd: 9090, ContainerPort: 8080, Proto: UDP},
			{HostPort: 9091, HostPortEnd: 9091, ContainerPort: 8081, Proto: UDP},
		}},
		{"80", []Mapping{{ContainerPort: 80, Proto: TCP}}},
		{"53/udp", []Mapping{{ContainerPort: 53, Proto: UDP}}},
		{"127.0.0.1::80", []Mapping{{HostIP: loopback, ContainerPort: 80, Proto: TCP}}},
		{"192.168.1.100::80", []Mapping{{HostIP: lan, ContainerPort: 80, Proto: TCP}}},
		{"8000-8010:80", []Mapping{{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: TCP}}},
		{"127.0.0.1:8000-8010:80/udp", []Mapping{{HostIP: loopback, HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: UDP}}},
		{"80-82", []Mapping{
			{ContainerPort: 80, Proto: TCP},
			{ContainerPort: 81, Proto: TCP},
			{ContainerPort: 82, Proto: TCP},
		}},
		{"127.0.0.1:5000-5001:5000-5001", []Mapping{
			{HostIP: loopback, HostPort: 5000, HostPortEnd: 5000, ContainerPort: 5000, Proto: TCP},
			{HostIP: loopback, HostPort: 5001, HostPortEnd: 5001, ContainerPort: 5001, Proto: TCP},
		}},
		// 0.0.0.0 is "all addresses", stored as the zero Addr.
		{"0.0.0.0:8080:80", []Mapping{{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP}}},
		// Host port 0 asks for any port, as with dockerd.
		{"0:80", []Mapping{{ContainerPort: 80, Proto: TCP}}},
		// Docker's accepted oddities: empty fields, "/" with no protocol,
		// upper case protocol, brackets around an IPv4 address, leading zeros.
		{":80", []Mapping{{ContainerPort: 80, Proto: TCP}}},
		{"::80", []Mapping{{ContainerPort: 80, Proto: TCP}}},
		{"80/", []Mapping{{ContainerPort: 80, Proto: TCP}}},
		{"8080:80/UDP", []Mapping{{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: UDP}}},
		{"[127.0.0.1]:8080:80", []Mapping{{HostIP: loopback, HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP}}},
		{"08080:080", []Mapping{{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP}}},
		{"65535:65535", []Mapping{{HostPort: 65535, HostPortEnd: 65535, ContainerPort: 65535, Proto: TCP}}},
		{"65534-65535", []Mapping{{ContainerPort: 65534, Proto: TCP}, {ContainerPort: 65535, Proto: TCP}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "No port specified: <empty>"},
		{"8080:", "No port specified: 8080:<empty>"},
		{"0.0.0.0:1234-1235:/tcp", "No port specified: 0.0.0.0:1234-1235:/tcp<empty>"},
		{"/udp", "No port specified: /udp<empty>"},
		{"8080:80/sctcp", "Invalid proto: sctcp"},
		{"80/TCPX", "Invalid proto: TCPX"},
		{"80/tcp/udp", "Invalid proto: tcp/udp"},
		{"80/sctp", "Invalid proto: sctp (bpfnet publishes tcp and udp only)"},
		{"localhost:8080:80", "Invalid ip address: localhost"},
		{"1.2.3:8080:80", "Invalid ip address: 1.2.3"},
		{"256.0.0.1::80", "Invalid ip address: 256.0.0.1"},
		{"[1.2.3.4:8080:80", "Invalid ip address [1.2.3.4: address [1.2.3.4:: missing ']' in address"},
		{"abc", "Invalid containerPort: abc"},
		{"8080:http", "Invalid containerPort: http"},
		{"-v", "Invalid containerPort: -v"},
		{"65536", "Invalid containerPort: 65536"},
		{"90-80", "Invalid containerPort: 90-80"},
		{"80-", "Invalid containerPort: 80-"},
		{"80-81-82", "Invalid containerPort: 80-81-82"},
		{"http:80", "Invalid hostPort: http"},
		{"70000:80", "Invalid hostPort: 70000"},
		{"90-80:80", "Invalid hostPort: 90-80"},
		{"-1:80", "Invalid hostPort: -1"},
		{"7000-7001:80-82", "Invalid ranges specified for container and host Ports: 80-82 and 7000-7001"},
		{"8080:80-82", "Invalid ranges specified for container and host Ports: 80-82 and 8080"},
		{"0", `invalid port specification: "0/tcp"`},
		{"8080:0/udp", `invalid port specification: "0/udp"`},
		{"0-2", `invalid port specification: "0/tcp"`},
		{"0-10:80", "invalid port range: 0-10"},
		// Docker's order: the address is checked before the ports, ports
		// before the protocol.
		{"bad:x:y/z", "Invalid ip address: bad"},
		{"x:y/z", "Invalid containerPort: y"},
		{"80-82:90/zz", "Invalid proto: zz"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if err == nil || err.Error() != tt.want || got != nil {
			t.Errorf("Parse(%q) = %+v, %v; want error %q", tt.spec, got, err, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Parse(%q) error %v is not ErrInvalidSpec", tt.spec, err)
		}
		if errors.Is(err, ErrIPv6NotSupported) {
			t.Errorf("Parse(%q) error %v claims IPv6", tt.spec, err)
		}
	}
}

func TestParseRefusesIPv6(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"[::1]:80:80", `bpfnet does not support IPv6: host IP [::1] in "[::1]:80:80"`},
		{"[2001:4860:0:2001::68]::333", `bpfnet does not support IPv6: host IP [2001:4860:0:2001::68] in "[2001:4860:0:2001::68]::333"`},
		{"::1:80:80", `bpfnet does not support IPv6: host IP ::1 in "::1:80:80"`},
		{"::::80", `bpfnet does not support IPv6: host IP :: in "::::80"`},
		{"[::ffff:1.2.3.4]:80:80", `bpfnet does not support IPv6: host IP [::ffff:1.2.3.4] in "[::ffff:1.2.3.4]:80:80"`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if err == nil || err.Error() != tt.want || got != nil {
			t.Errorf("Parse(%q) = %+v, %v; want error %q", tt.spec, got, err, tt.want)
			continue
		}
		if !errors.Is(err, ErrIPv6NotSupported) || !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Parse(%q) error %v: want ErrIPv6NotSupported and ErrInvalidSpec", tt.spec, err)
		}
	}
}

func TestParseAll(t *testing.T) {
	got, err := ParseAll([]string{"8080:80", "127.0.0.1:9090:90/udp", "7000-7001:7000-7001", "443"})
	want := []Mapping{
		{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP},
		{HostIP: loopback, HostPort: 9090, HostPortEnd: 9090, ContainerPort: 90, Proto: UDP},
		{HostPort: 7000, HostPortEnd: 7000, ContainerPort: 7000, Proto: TCP},
		{HostPort: 7001, HostPortEnd: 7001, ContainerPort: 7001, Proto: TCP},
		{ContainerPort: 443, Proto: TCP},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAll = %+v, %v; want %+v", got, err, want)
	}

	got, err = ParseAll([]string{"8080:80", "8081:80/bogus", "x"})
	if got != nil || err == nil || err.Error() != "Invalid proto: bogus" {
		t.Errorf("ParseAll with a bad spec = %+v, %v; want nil and the first spec's error", got, err)
	}

	got, err = ParseAll(nil)
	if got != nil || err != nil {
		t.Errorf("ParseAll(nil) = %+v, %v; want nil, nil", got, err)
	}
}
