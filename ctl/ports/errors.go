package ports

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/ipam"
)

// Errors callers test with errors.Is. Texts that start with a capital, and
// the two below that are Docker's, are kept byte for byte so that bpfnet reads
// like `docker run -p`; each comment names the file the text comes from.
var (
	// ErrInvalidSpec is what every Parse error unwraps to. Its own text is never
	// shown: the error printed is Docker's message for the bad part.
	ErrInvalidSpec = errors.New("invalid publish spec")

	// ErrIPv6NotSupported is ipam's, one error for every IPv6 refusal. Parse
	// errors for an IPv6 host address unwrap to it and to ErrInvalidSpec.
	ErrIPv6NotSupported = ipam.ErrIPv6NotSupported

	// ErrPortAllocated is what "Bind for IP:PORT failed: port is already
	// allocated" unwraps to (moby libnetwork/portallocator/portallocator.go,
	// ErrPortAlreadyAllocated.Error).
	ErrPortAllocated = errors.New("port is already allocated")

	// ErrAllPortsAllocated: moby libnetwork/portallocator/portallocator.go
	// (ErrAllPortsAllocated), returned as is, as dockerd does, when no port of
	// a host range or of the ephemeral range is free.
	ErrAllPortsAllocated = errors.New("all ports are allocated")

	// ErrProcFormat: a /proc/sys file did not hold what the kernel writes there.
	ErrProcFormat = errors.New("unexpected content")
)

// textError prints a fixed text yet unwraps to sentinels. fmt.Errorf with %w
// would glue the sentinel's own words onto Docker's, and Docker's texts must
// stay byte for byte.
type textError struct {
	text  string
	kinds []error
}

func (e *textError) Error() string   { return e.text }
func (e *textError) Unwrap() []error { return e.kinds }

func invalidSpec(format string, args ...any) error {
	return &textError{text: fmt.Sprintf(format, args...), kinds: []error{ErrInvalidSpec}}
}

func ipv6NotSupported(rawIP, spec string) error {
	return &textError{
		text:  fmt.Sprintf("%s: host IP %s in %q", ErrIPv6NotSupported, rawIP, spec),
		kinds: []error{ErrIPv6NotSupported, ErrInvalidSpec},
	}
}

// portAllocated shows 0.0.0.0 for a mapping on all addresses, as dockerd
// does (its allocator's default IP is net.IPv4zero).
func portAllocated(ip netip.Addr, port uint16) error {
	return &textError{
		text:  fmt.Sprintf("Bind for %s:%d failed: port is already allocated", BindAddr(ip), port),
		kinds: []error{ErrPortAllocated},
	}
}
