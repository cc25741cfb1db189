package ctl

import (
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/loader"
)

func TestCheckNetworkName(t *testing.T) {
	good := []string{"web", "my-net_1.2", "my net", "réseau", "网络", "a", strings.Repeat("n", 255), strings.Repeat("é", 127)}
	for _, name := range good {
		if err := checkNetworkName(name); err != nil {
			t.Errorf("checkNetworkName(%q) = %v, want nil", name, err)
		}
	}
	bad := []struct{ name, want string }{
		{"", `invalid network name "": it is empty`},
		{"a/b", `invalid network name "a/b": it holds a '/'`},
		{"/", `invalid network name "/": it holds a '/'`},
		{"evil\x1b[2Jname", `invalid network name "evil\x1b[2Jname": it holds U+001B, which is not printable`},
		{"tab\t", `invalid network name "tab\t": it holds U+0009, which is not printable`},
		{"nl\n", `invalid network name "nl\n": it holds U+000A, which is not printable`},
		{"del\x7f", `invalid network name "del\x7f": it holds U+007F, which is not printable`},
		{"csi\u009b", `invalid network name "csi\u009b": it holds U+009B, which is not printable`},
		{"rlo\u202e", `invalid network name "rlo\u202e": it holds U+202E, which is not printable`},
		{"nul\x00", `invalid network name "nul\x00": it holds U+0000, which is not printable`},
		{"bad\xff", `invalid network name "bad\xff": it is not UTF-8`},
		{strings.Repeat("n", 256), `invalid network name "` + strings.Repeat("n", 32) + `"...: longer than 255 bytes (256)`},
	}
	for _, tt := range bad {
		err := checkNetworkName(tt.name)
		if err == nil || err.Error() != tt.want {
			t.Errorf("checkNetworkName(%q) = %v, want %s", tt.name, err, tt.want)
			continue
		}
		for _, r := range err.Error() {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
				t.Errorf("error %q holds the raw control %U", err, r)
			}
		}
	}
}

func TestCheckConntrackEntries(t *testing.T) {
	for _, n := range []int64{1024, 4096, 131072, 16777216} {
		if err := CheckConntrackEntries(n); err != nil {
			t.Errorf("CheckConntrackEntries(%d) = %v", n, err)
		}
	}
	def, err := loader.DefaultConntrackEntries()
	if err != nil {
		t.Fatal(err)
	}
	if CheckConntrackEntries(int64(def)) != nil {
		t.Errorf("the object's default %d is out of bounds", def)
	}
	tests := []struct {
		n    int64
		want string
	}{
		{0, "invalid --conntrack-entries 0: want 1024 to 16777216 (106.5 kB to 1.7 GB; 13.6 MB at the default 131072; 104 bytes per entry)"},
		{-5, "invalid --conntrack-entries -5: want 1024 to 16777216 (106.5 kB to 1.7 GB; 13.6 MB at the default 131072; 104 bytes per entry)"},
		{1023, "invalid --conntrack-entries 1023: want"},
		{16777217, "invalid --conntrack-entries 16777217 (1.7 GB): want"},
		{100000000, "invalid --conntrack-entries 100000000 (10.4 GB): want"},
		{1 << 40, "invalid --conntrack-entries 1099511627776 (114.3 TB): want"},
	}
	for _, tt := range tests {
		if err := CheckConntrackEntries(tt.n); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("CheckConntrackEntries(%d) = %v, want %q", tt.n, err, tt.want)
		}
	}
	if err := checkSizes(loader.Sizes{}); err != nil {
		t.Errorf("checkSizes of the default: %v", err)
	}
	if err := checkSizes(loader.Sizes{ConntrackEntries: 100}); err == nil {
		t.Errorf("checkSizes(100 entries) = nil")
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    float64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {106496, "106.5 kB"}, {13631488, "13.6 MB"},
		{1744830464, "1.7 GB"}, {10.4e9, "10.4 GB"}, {2e12, "2.0 TB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%g) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
