package ports

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
)

func TestMappingString(t *testing.T) {
	tests := []struct {
		m    Mapping
		want string
	}{
		{fixed(netip.Addr{}, 8080, 80, TCP), "80/tcp -> 0.0.0.0:8080"},
		{fixed(netip.IPv4Unspecified(), 8080, 80, TCP), "80/tcp -> 0.0.0.0:8080"},
		{fixed(loopback, 9090, 90, UDP), "90/udp -> 127.0.0.1:9090"},
		{Mapping{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: TCP}, "80/tcp -> 0.0.0.0:8000-8010"},
		{unpicked(loopback, 80, TCP), "80/tcp -> 127.0.0.1:0"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestPortsView(t *testing.T) {
	ms := []Mapping{
		fixed(netip.Addr{}, 8080, 80, TCP),
		fixed(loopback, 8081, 80, TCP),
		fixed(loopback, 9090, 90, UDP),
		{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 81, Proto: TCP},
		unpicked(netip.Addr{}, 82, TCP),
	}
	want := map[string][]Binding{
		"80/tcp": {{HostIp: "0.0.0.0", HostPort: "8080"}, {HostIp: "127.0.0.1", HostPort: "8081"}},
		"90/udp": {{HostIp: "127.0.0.1", HostPort: "9090"}},
		"81/tcp": {{HostIp: "0.0.0.0", HostPort: "8000-8010"}},
		"82/tcp": {{HostIp: "0.0.0.0", HostPort: ""}},
	}
	if got := PortsView(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("PortsView = %+v, want %+v", got, want)
	}
	if got := PortsView(nil); len(got) != 0 {
		t.Errorf("PortsView(nil) = %+v, want empty", got)
	}
}

// `docker inspect` clients read the keys "HostIp" and "HostPort".
func TestBindingJSON(t *testing.T) {
	got, err := json.Marshal(PortsView([]Mapping{fixed(loopback, 9090, 90, UDP)}))
	want := `{"90/udp":[{"HostIp":"127.0.0.1","HostPort":"9090"}]}`
	if err != nil || string(got) != want {
		t.Errorf("json = %s, %v; want %s", got, err, want)
	}
}
