package ports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Ephemeral is the range host ports are picked from for -P and for a bare
// container port: the kernel's ip_local_port_range, minus the ports listed in
// ip_local_reserved_ports, which the kernel keeps out of automatic binds and
// so must bpfnet.
type Ephemeral struct {
	First, Last uint16
	Reserved    map[uint16]bool
}

// dockerd falls back to this range when it cannot read ip_local_port_range
// (moby libnetwork/portallocator/portallocator_unix.go); Assign does the same
// for a zero Ephemeral.
const (
	defaultEphemeralFirst = 49153
	defaultEphemeralLast  = 60999
)

// ReadEphemeral reads ip_local_port_range and ip_local_reserved_ports from
// procSysNetIPv4 (normally /proc/sys/net/ipv4; tests pass a directory of fake
// files).
func ReadEphemeral(procSysNetIPv4 string) (Ephemeral, error) {
	rangePath := filepath.Join(procSysNetIPv4, "ip_local_port_range")
	text, err := os.ReadFile(rangePath)
	if err != nil {
		return Ephemeral{}, fmt.Errorf("read ephemeral port range: %w", err)
	}
	first, last, err := parseLocalPortRange(string(text))
	if err != nil {
		return Ephemeral{}, fmt.Errorf("parse %s: %w", rangePath, err)
	}

	reservedPath := filepath.Join(procSysNetIPv4, "ip_local_reserved_ports")
	text, err = os.ReadFile(reservedPath)
	// Some sandboxed kernels (gVisor) have no such file: nothing is reserved.
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Ephemeral{}, fmt.Errorf("read reserved ports: %w", err)
	}
	reserved, err := parseReservedPorts(string(text))
	if err != nil {
		return Ephemeral{}, fmt.Errorf("parse %s: %w", reservedPath, err)
	}
	return Ephemeral{First: first, Last: last, Reserved: reserved}, nil
}

// parseLocalPortRange reads "32768\t60999\n".
func parseLocalPortRange(text string) (first, last uint16, err error) {
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("%w: want two port numbers, got %q", ErrProcFormat, text)
	}
	first, err = parseProcPort(fields[0])
	if err != nil {
		return 0, 0, err
	}
	last, err = parseProcPort(fields[1])
	if err != nil {
		return 0, 0, err
	}
	// The kernel itself refuses a range starting at 0 or ending before it starts.
	if first == 0 || first > last {
		return 0, 0, fmt.Errorf("%w: bad range %d-%d", ErrProcFormat, first, last)
	}
	return first, last, nil
}

// parseReservedPorts reads the kernel's list, e.g. "8080,9000-9002\n"; an
// empty file (the default) reserves nothing.
func parseReservedPorts(text string) (map[uint16]bool, error) {
	reserved := map[uint16]bool{}
	text = strings.TrimSpace(text)
	if text == "" {
		return reserved, nil
	}
	for item := range strings.SplitSeq(text, ",") {
		firstText, lastText, isRange := strings.Cut(strings.TrimSpace(item), "-")
		first, err := parseProcPort(firstText)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = parseProcPort(lastText); err != nil {
				return nil, err
			}
		}
		if first > last {
			return nil, fmt.Errorf("%w: range %q ends before it starts", ErrProcFormat, item)
		}
		for port := int(first); port <= int(last); port++ {
			reserved[uint16(port)] = true
		}
	}
	return reserved, nil
}

func parseProcPort(text string) (uint16, error) {
	n, err := strconv.ParseUint(text, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProcFormat, err)
	}
	return uint16(n), nil
}
