// Package ipam chooses subnets for networks and addresses for containers the
// way Docker's default IPAM driver does, and fails with Docker's words, so that
// bpfnet's messages read like those of `docker network create` and `docker run`.
// It is pure logic: callers pass in what exists (networks, host routes, used
// addresses) and store what it returns.
package ipam

import (
	"errors"
	"strings"
)

// Errors callers test with errors.Is. Capitalised texts are Docker's own, kept
// byte for byte; each comment names the moby or docker/cli file it comes from.
var (
	// ErrNoPool: libnetwork/ipams/defaultipam/address_space.go (allocatePredefinedPool,
	// Docker 23-26). Docker 27+ says "all predefined address pools have been fully
	// subnetted" (libnetwork/ipamapi/contract.go, ErrNoMoreSubnets); the older text
	// is the one users know and search for.
	ErrNoPool = errors.New("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")

	// ErrPoolOverlap: libnetwork/ipamapi/contract.go.
	ErrPoolOverlap = errors.New("Pool overlaps with other one on this address space")

	// ErrAddressInUse: libnetwork/ipamapi/contract.go (ErrIPAlreadyAllocated).
	// Docker also answers it for the network and broadcast addresses, which its
	// allocator holds as taken.
	ErrAddressInUse = errors.New("Address already in use")

	// ErrNoAvailableIPs: libnetwork/ipamapi/contract.go.
	ErrNoAvailableIPs = errors.New("no available addresses on this pool")

	// ErrAddressNotInSubnet is followed by the address in the returned text:
	// api/types/network/endpoint.go (validateEndpointIPAddress).
	ErrAddressNotInSubnet = errors.New("no configured subnet or ip-range contain the IP address")

	// ErrMissingSubnet: docker/cli cli/command/network/create.go (createIPAMConfig).
	// ParseConfig cannot tell a defaulted subnet from a given one, so the caller
	// returns this when --ip-range or --gateway comes without --subnet.
	ErrMissingSubnet = errors.New("every ip-range or gateway must have a corresponding subnet")

	// ErrIPv6NotSupported is bpfnet's own: the datapath is IPv4 only.
	ErrIPv6NotSupported = errors.New("bpfnet does not support IPv6")
)

// joinedErrors prints like moby's multierror.Join (api/types/network/ipam.go,
// errJoin): one error alone, several as a "* " list. Docker reports every
// problem of a request at once, so bpfnet does too.
type joinedErrors []error

func (e joinedErrors) Error() string {
	if len(e) == 1 {
		return strings.TrimSpace(e[0].Error())
	}
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = strings.ReplaceAll(err.Error(), "\n", "\n\t")
	}
	return "* " + strings.Join(lines, "\n* ")
}

func (e joinedErrors) Unwrap() []error { return e }
