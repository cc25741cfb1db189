package bridge

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/model"
)

func TestParseBridgeOptions(t *testing.T) {
	tests := []struct {
		opts    map[string]string
		want    model.Settings
		wantErr string
	}{
		{opts: nil, want: model.Settings{ICC: true, MTU: 1500, Masquerade: true}},
		{opts: map[string]string{"icc": "false"}, want: model.Settings{ICC: false, MTU: 1500, Masquerade: true}},
		{opts: map[string]string{"com.docker.network.bridge.enable_icc": "0"}, want: model.Settings{MTU: 1500, Masquerade: true}},
		{opts: map[string]string{"mtu": "9000", "enable_ip_masquerade": "false"}, want: model.Settings{ICC: true, MTU: 9000}},
		{opts: map[string]string{"com.docker.network.driver.mtu": "1400"}, want: model.Settings{ICC: true, MTU: 1400, Masquerade: true}},
		{opts: map[string]string{"mtu": "abc"}, wantErr: `invalid value "abc" for option mtu`},
		{opts: map[string]string{"mtu": "67"}, wantErr: "out of range"},
		{opts: map[string]string{"icc": "maybe"}, wantErr: `invalid value "maybe" for option icc`},
		{opts: map[string]string{"foo": "bar"}, wantErr: `invalid option "foo"`},
		{opts: map[string]string{OptHostIPv4: "127.0.0.1"}, want: model.Settings{ICC: true, MTU: 1500, Masquerade: true, HostBindingIPv4: netip.MustParseAddr("127.0.0.1")}},
		{opts: map[string]string{"host_binding_ipv4": "0.0.0.0"}, want: model.Settings{ICC: true, MTU: 1500, Masquerade: true}},
		{opts: map[string]string{OptHostIPv4: "::1"}, wantErr: `invalid value "::1" for option ` + OptHostIPv4 + `: not an IPv4 address`},
	}
	for _, tt := range tests {
		got, err := Driver{}.Settings(tt.opts)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseBridgeOptions(%v) error = %v, want %q", tt.opts, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseBridgeOptions(%v) = %+v, %v; want %+v", tt.opts, got, err, tt.want)
		}
	}
}
