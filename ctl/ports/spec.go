// Package ports parses `docker run -p` specs and chooses host ports the way
// dockerd does, failing with Docker's words. It is pure logic: callers pass in
// what exists (other containers' mappings, a check for host sockets, the
// kernel's ephemeral range) and store what it returns.
//
// Parse follows docker/go-connections nat/nat.go (ParsePortSpec,
// SplitProtoPort, ParsePortRange) in the releases whose messages start with a
// capital ("Invalid containerPort: 8o"), the texts `docker run` users have
// seen for years and search for; newer releases lowercase them.
package ports

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Proto is a transport protocol a port is published for.
type Proto string

// The protocols bpfnet publishes. Docker also takes sctp; bpfnet's datapath
// does not translate it.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Number is p's IP protocol number, as the datapath and the store key it.
func (p Proto) Number() uint8 {
	if p == UDP {
		return 17 // IPPROTO_UDP
	}
	return 6 // IPPROTO_TCP
}

// Mapping is one container port published on the host. HostPort 0 means
// "pick one"; when HostPortEnd > HostPort the host port is picked from
// [HostPort, HostPortEnd]. Parse sets HostPortEnd = HostPort for a fixed port,
// and Assign returns every mapping in that form.
type Mapping struct {
	// HostIP is the zero Addr for all addresses (0.0.0.0); Parse turns an
	// explicit 0.0.0.0 into the zero Addr so that equal mappings compare equal.
	HostIP                netip.Addr
	HostPort, HostPortEnd uint16
	ContainerPort         uint16
	Proto                 Proto
}

// ParseAll parses every -p value in order and joins the results; the first
// bad spec fails the whole list, as in Docker's nat.ParsePortSpecs.
func ParseAll(specs []string) ([]Mapping, error) {
	var all []Mapping
	for _, spec := range specs {
		ms, err := Parse(spec)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	return all, nil
}

// Parse reads one -p value, [ip:][hostPort[-end]:]containerPort[-end][/proto].
// A container range expands to one mapping per port; a host range with a
// single container port stays one mapping whose host port is picked later.
// Checks run in Docker's order, so a spec with several faults gets the
// message Docker gives for it.
func Parse(spec string) ([]Mapping, error) {
	rawIP, hostPart, containerPart := splitParts(spec)
	containerPart, rawProto := splitProtoPort(containerPart)

	hostIP, err := parseHostIP(rawIP, spec)
	if err != nil {
		return nil, err
	}
	if containerPart == "" {
		// go-connections nat/nat.go (ParsePortSpec)
		return nil, invalidSpec("No port specified: %s<empty>", spec)
	}
	// Docker drops ParsePortRange's reason and names the part; so does bpfnet.
	containerFirst, containerLast, ok := parsePortRange(containerPart)
	if !ok {
		// go-connections nat/nat.go (ParsePortSpec)
		return nil, invalidSpec("Invalid containerPort: %s", containerPart)
	}
	var hostFirst, hostLast uint16
	if hostPart != "" {
		hostFirst, hostLast, ok = parsePortRange(hostPart)
		if !ok {
			// go-connections nat/nat.go (ParsePortSpec)
			return nil, invalidSpec("Invalid hostPort: %s", hostPart)
		}
		// A host range for a single container port is the range to pick the
		// host port from; any other difference in size is an error.
		if containerLast-containerFirst != hostLast-hostFirst && containerLast != containerFirst {
			// go-connections nat/nat.go (ParsePortSpec)
			return nil, invalidSpec("Invalid ranges specified for container and host Ports: %s and %s", containerPart, hostPart)
		}
	}
	proto, err := parseProto(rawProto)
	if err != nil {
		return nil, err
	}
	// The CLI lets port 0 through; dockerd rejects it when the container is
	// created: moby daemon/container.go (validatePortBindings).
	if containerFirst == 0 {
		return nil, invalidSpec("invalid port specification: %q", "0/"+string(proto))
	}
	// Host port 0 alone asks for any port, as in Docker; a range starting at 0
	// is refused by dockerd's allocator: moby libnetwork/portallocator/
	// portallocator.go (getPortRange).
	if hostFirst == 0 && hostLast != 0 {
		return nil, invalidSpec("invalid port range: %d-%d", hostFirst, hostLast)
	}
	return expand(hostIP, hostPart != "", hostFirst, hostLast, containerFirst, containerLast, proto), nil
}

func expand(hostIP netip.Addr, hostGiven bool, hostFirst, hostLast, containerFirst, containerLast uint16, proto Proto) []Mapping {
	count := int(containerLast) - int(containerFirst) + 1
	ms := make([]Mapping, 0, count)
	for i := range count {
		m := Mapping{HostIP: hostIP, ContainerPort: containerFirst + uint16(i), Proto: proto}
		switch {
		case !hostGiven:
		case count == 1:
			m.HostPort, m.HostPortEnd = hostFirst, hostLast
		default:
			m.HostPort = hostFirst + uint16(i)
			m.HostPortEnd = m.HostPort
		}
		ms = append(ms, m)
	}
	return ms
}

// splitParts splits at colons from the right: the last two fields are the
// ports and whatever is left of them is the address, so an unbracketed IPv6
// address keeps its colons (go-connections nat/nat.go, splitParts).
func splitParts(spec string) (ip, hostPort, containerPort string) {
	parts := strings.Split(spec, ":")
	n := len(parts)
	switch n {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
}

// splitProtoPort splits "80-81/udp"; no protocol, or an empty one, is tcp.
func splitProtoPort(raw string) (port, proto string) {
	port, proto, _ = strings.Cut(raw, "/")
	if port == "" {
		return "", ""
	}
	if proto == "" {
		proto = string(TCP)
	}
	return port, proto
}

func parseHostIP(rawIP, spec string) (netip.Addr, error) {
	if rawIP == "" {
		return netip.Addr{}, nil
	}
	host := rawIP
	// Docker strips the brackets with net.SplitHostPort and quotes its error.
	// An unbracketed address with colons is IPv6, refused below in bpfnet's
	// words rather than with SplitHostPort's "too many colons".
	if strings.HasPrefix(rawIP, "[") || !strings.Contains(rawIP, ":") {
		stripped, _, err := net.SplitHostPort(rawIP + ":")
		if err != nil {
			// go-connections nat/nat.go (ParsePortSpec)
			return netip.Addr{}, invalidSpec("Invalid ip address %v: %s", rawIP, err)
		}
		host = stripped
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		// go-connections nat/nat.go (ParsePortSpec)
		return netip.Addr{}, invalidSpec("Invalid ip address: %s", host)
	}
	if addr.Is6() {
		return netip.Addr{}, ipv6NotSupported(rawIP, spec)
	}
	if addr.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return addr, nil
}

// parsePortRange reads "80" or "8000-8010" (go-connections nat/parse.go,
// ParsePortRange): base-10 numbers that fit 16 bits, end not below start.
func parsePortRange(text string) (first, last uint16, ok bool) {
	firstText, lastText, isRange := strings.Cut(text, "-")
	f, err := strconv.ParseUint(firstText, 10, 16)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return uint16(f), uint16(f), true
	}
	l, err := strconv.ParseUint(lastText, 10, 16)
	if err != nil || l < f {
		return 0, 0, false
	}
	return uint16(f), uint16(l), true
}

func parseProto(raw string) (Proto, error) {
	switch Proto(strings.ToLower(raw)) {
	case TCP:
		return TCP, nil
	case UDP:
		return UDP, nil
	case "sctp":
		// Valid for Docker; bpfnet says why it refuses it.
		return "", invalidSpec("Invalid proto: %s (bpfnet publishes tcp and udp only)", raw)
	default:
		// go-connections nat/nat.go (ParsePortSpec)
		return "", invalidSpec("Invalid proto: %s", raw)
	}
}
