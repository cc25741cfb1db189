package ports

import "net/netip"

// Allocator chooses host ports. It holds no state: the caller passes the
// mappings that exist now (all containers') and a check for host sockets,
// which needs the host network namespace and so is not this package's to do.
type Allocator struct {
	// Ephemeral is the range for mappings with HostPort 0; a zero value
	// means dockerd's fallback, 49153-60999.
	Ephemeral Ephemeral
	// Existing are the mappings already installed, with their host ports;
	// nil is none.
	Existing Held
	// HostBusy, if set, reports a host socket bound to ip:port/proto. It gets
	// 0.0.0.0 for a mapping on all addresses.
	HostBusy func(ip netip.Addr, port uint16, proto Proto) bool
}

// Held is what the allocator asks of the mappings that exist: the store
// answers from an index, so choosing a port costs the same with 10 or
// 10,000 mappings; Mappings answers from a slice.
type Held interface {
	// Holds tells whether a mapping of proto holds port on an address
	// overlapping ip.
	Holds(ip netip.Addr, port uint16, proto Proto) bool
	// Highest is the highest port in [first, last] that a mapping of proto
	// holds on an address overlapping ip, or 0.
	Highest(ip netip.Addr, proto Proto, first, last uint16) uint16
}

// Mappings is a list of mappings, searched in full.
type Mappings []Mapping

func (ms Mappings) Holds(ip netip.Addr, port uint16, proto Proto) bool {
	for _, h := range ms {
		if h.Proto == proto && h.HostPort == port && AddrsOverlap(h.HostIP, ip) {
			return true
		}
	}
	return false
}

func (ms Mappings) Highest(ip netip.Addr, proto Proto, first, last uint16) uint16 {
	var top uint16
	for _, h := range ms {
		if h.Proto == proto && AddrsOverlap(h.HostIP, ip) && h.HostPort >= first && h.HostPort <= last {
			top = max(top, h.HostPort)
		}
	}
	return top
}

// Assign returns ms with a host port chosen for each, in order:
//   - a fixed host port is kept if free, else the error reads Docker's "Bind
//     for 0.0.0.0:8080 failed: port is already allocated" (ErrPortAllocated);
//   - a host range (HostPortEnd > HostPort) gets its first free port;
//   - HostPort 0 gets a free, unreserved port of the ephemeral range.
//
// No port found: ErrAllPortsAllocated. A port is taken when another mapping
// of the same protocol holds it on an overlapping address (0.0.0.0 overlaps
// every address; two specific addresses only themselves), whether that
// mapping exists already or comes earlier in ms, or when HostBusy says so.
// Assign changes neither ms nor a; on error it returns no mappings, so a
// failure in the middle of a range leaves nothing half chosen.
func (a Allocator) Assign(ms []Mapping) ([]Mapping, error) {
	assigned := make(Mappings, 0, len(ms))
	for _, m := range ms {
		port, err := a.choose(m, assigned)
		if err != nil {
			return nil, err
		}
		m.HostPort, m.HostPortEnd = port, port
		assigned = append(assigned, m)
	}
	return assigned, nil
}

func (a Allocator) choose(m Mapping, mine Mappings) (uint16, error) {
	switch {
	case m.HostPort == 0:
		return a.chooseEphemeral(m, mine)
	case m.HostPortEnd > m.HostPort:
		// dockerd's allocator starts a new range at its first port.
		for port := int(m.HostPort); port <= int(m.HostPortEnd); port++ {
			if !a.taken(m.HostIP, uint16(port), m.Proto, mine) {
				return uint16(port), nil
			}
		}
		return 0, ErrAllPortsAllocated
	default:
		if a.taken(m.HostIP, m.HostPort, m.Proto, mine) {
			return 0, portAllocated(m.HostIP, m.HostPort)
		}
		return m.HostPort, nil
	}
}

// chooseEphemeral scans the ephemeral range round-robin, starting after the
// highest port of the range already held on an overlapping address. dockerd
// likewise hands out ports after the last one it gave; that keeps a port just
// freed from going straight to a new container, where stale conntrack
// entries and clients of the old container would still reach it. The first
// pick, with nothing held, is the range's first port, as in dockerd.
func (a Allocator) chooseEphemeral(m Mapping, mine Mappings) (uint16, error) {
	eph := a.Ephemeral
	if eph.First == 0 {
		eph = Ephemeral{First: defaultEphemeralFirst, Last: defaultEphemeralLast}
	}
	first, last := int(eph.First), int(eph.Last)
	start := first
	top := mine.Highest(m.HostIP, m.Proto, eph.First, eph.Last)
	if a.Existing != nil {
		top = max(top, a.Existing.Highest(m.HostIP, m.Proto, eph.First, eph.Last))
	}
	if top != 0 {
		start = int(top) + 1
	}
	size := last - first + 1
	for i := range size {
		port := uint16(first + (start-first+i)%size)
		if eph.Reserved[port] || a.taken(m.HostIP, port, m.Proto, mine) {
			continue
		}
		return port, nil
	}
	return 0, ErrAllPortsAllocated
}

func (a Allocator) taken(ip netip.Addr, port uint16, proto Proto, mine Mappings) bool {
	if mine.Holds(ip, port, proto) || (a.Existing != nil && a.Existing.Holds(ip, port, proto)) {
		return true
	}
	return a.HostBusy != nil && a.HostBusy(BindAddr(ip), port, proto)
}

// AddrsOverlap: a socket on 0.0.0.0 receives for every address, so it clashes
// with any address; two specific addresses clash only when equal.
func AddrsOverlap(x, y netip.Addr) bool {
	return onAllAddrs(x) || onAllAddrs(y) || x.Unmap() == y.Unmap()
}

func onAllAddrs(ip netip.Addr) bool { return !ip.IsValid() || ip.IsUnspecified() }

// BindAddr is the address a mapping binds: 0.0.0.0 for all addresses.
func BindAddr(ip netip.Addr) netip.Addr {
	if onAllAddrs(ip) {
		return netip.IPv4Unspecified()
	}
	return ip
}
