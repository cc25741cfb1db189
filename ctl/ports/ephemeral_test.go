package ports

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc writes the two files into a temp dir; a nil content leaves a file out.
func fakeProc(t *testing.T, portRange, reserved *string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, content *string) {
		if content == nil {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ip_local_port_range", portRange)
	write("ip_local_reserved_ports", reserved)
	return dir
}

func ptr(s string) *string { return &s }

func TestReadEphemeral(t *testing.T) {
	tests := []struct {
		name               string
		portRange, reserve *string
		want               Ephemeral
	}{
		{"kernel default, nothing reserved", ptr("32768\t60999\n"), ptr("\n"), Ephemeral{First: 32768, Last: 60999}},
		{"empty reserved file", ptr("32768\t60999\n"), ptr(""), Ephemeral{First: 32768, Last: 60999}},
		{"no reserved file", ptr("32768\t60999\n"), nil, Ephemeral{First: 32768, Last: 60999}},
		{"spaces instead of a tab", ptr("40000 40009"), ptr("8080,9000-9002\n"), Ephemeral{
			First: 40000, Last: 40009,
			Reserved: map[uint16]bool{8080: true, 9000: true, 9001: true, 9002: true},
		}},
		{"one-port range, reserved range of one", ptr("50000\t50000\n"), ptr("50000-50000,1\n"), Ephemeral{
			First: 50000, Last: 50000, Reserved: map[uint16]bool{1: true, 50000: true},
		}},
	}
	for _, tt := range tests {
		got, err := ReadEphemeral(fakeProc(t, tt.portRange, tt.reserve))
		if err != nil || got.First != tt.want.First || got.Last != tt.want.Last || !maps.Equal(got.Reserved, tt.want.Reserved) {
			t.Errorf("%s: ReadEphemeral = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestReadEphemeralErrors(t *testing.T) {
	tests := []struct {
		name               string
		portRange, reserve *string
		wantIs             error
		wantText           string
	}{
		{"no range file", nil, ptr(""), fs.ErrNotExist, "read ephemeral port range: open "},
		{"one number", ptr("32768\n"), ptr(""), ErrProcFormat, `ip_local_port_range: unexpected content: want two port numbers, got "32768\n"`},
		{"three numbers", ptr("1 2 3\n"), ptr(""), ErrProcFormat, `ip_local_port_range: unexpected content: want two port numbers, got "1 2 3\n"`},
		{"not a number", ptr("low\thigh\n"), ptr(""), ErrProcFormat, `ip_local_port_range: unexpected content: strconv.ParseUint: parsing "low": invalid syntax`},
		{"too big", ptr("32768\t70000\n"), ptr(""), ErrProcFormat, `ip_local_port_range: unexpected content: strconv.ParseUint: parsing "70000": value out of range`},
		{"reversed range", ptr("60999\t32768\n"), ptr(""), ErrProcFormat, "ip_local_port_range: unexpected content: bad range 60999-32768"},
		{"starts at 0", ptr("0\t100\n"), ptr(""), ErrProcFormat, "ip_local_port_range: unexpected content: bad range 0-100"},
		{"reserved not a number", ptr("32768\t60999\n"), ptr("8080,x\n"), ErrProcFormat, `ip_local_reserved_ports: unexpected content: strconv.ParseUint: parsing "x": invalid syntax`},
		{"reserved reversed", ptr("32768\t60999\n"), ptr("9002-9000\n"), ErrProcFormat, `ip_local_reserved_ports: unexpected content: range "9002-9000" ends before it starts`},
		{"reserved empty item", ptr("32768\t60999\n"), ptr("8080,,9000\n"), ErrProcFormat, `ip_local_reserved_ports: unexpected content: strconv.ParseUint: parsing "": invalid syntax`},
	}
	for _, tt := range tests {
		got, err := ReadEphemeral(fakeProc(t, tt.portRange, tt.reserve))
		if err == nil || !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("%s: ReadEphemeral = %+v, %v; want an error that is %v and contains %q", tt.name, got, err, tt.wantIs, tt.wantText)
		}
		if got.First != 0 || got.Last != 0 || got.Reserved != nil {
			t.Errorf("%s: ReadEphemeral returned %+v with its error; want the zero Ephemeral", tt.name, got)
		}
	}
}
