package ports

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestMappingTextRoundTrip(t *testing.T) {
	for _, m := range []Mapping{
		{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9090, HostPortEnd: 9090, ContainerPort: 90, Proto: UDP},
		{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Proto: TCP},
	} {
		text, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Mapping
		if err := back.UnmarshalText(text); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", text, err)
		}
		if back != m {
			t.Errorf("%+v -> %q -> %+v", m, text, back)
		}
	}
	data, err := json.Marshal([]Mapping{{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: TCP}})
	if err != nil || string(data) != `["0.0.0.0:8080:80/tcp"]` {
		t.Fatalf("JSON = %s, %v", data, err)
	}
}
