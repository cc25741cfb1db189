package memstore

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/bpfnet/bpfnet/ctl/ports"
)

// binding is a host binding as boltstore keys it, and orders it: protocol,
// port, address (0.0.0.0 for all).
type binding struct {
	proto uint8
	port  uint16
	addr  [4]byte
}

func (b binding) compare(o binding) int {
	return cmp.Or(cmp.Compare(b.proto, o.proto), cmp.Compare(b.port, o.port), slices.Compare(b.addr[:], o.addr[:]))
}

// canonical is m as a store gives it back (through its -p text, as
// boltstore keeps it: an explicit 0.0.0.0 becomes all addresses) and its
// binding.
func canonical(m ports.Mapping) (ports.Mapping, binding, error) {
	text, err := m.MarshalText()
	if err == nil {
		err = m.UnmarshalText(text)
	}
	addr := ports.BindAddr(m.HostIP).Unmap()
	if err == nil && !addr.Is4() {
		err = fmt.Errorf("host address %s is not IPv4", addr)
	}
	if err != nil {
		return m, binding{}, fmt.Errorf("published port %v: %w", m, err)
	}
	return m, binding{m.Proto.Number(), m.HostPort, addr.As4()}, nil
}

// Ports returns a container's mappings ordered by binding, as boltstore.
func (s *Store) Ports(containerID string) ([]ports.Mapping, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ms []ports.Mapping
	for _, k := range slices.SortedFunc(maps.Keys(s.d.ports[containerID]), binding.compare) {
		ms = append(ms, s.d.ports[containerID][k])
	}
	return ms, nil
}

func (s *Store) HasPorts(containerID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.d.ports[containerID]) > 0, nil
}

// WithPortIndex runs fn on a copy of every mapping, searched in full:
// the copy does not change while fn runs, and fn may call the store.
func (s *Store) WithPortIndex(fn func(ports.Held) error) error {
	s.mu.RLock()
	var all ports.Mappings
	for _, own := range s.d.ports {
		all = slices.AppendSeq(all, maps.Values(own))
	}
	s.mu.RUnlock()
	return fn(all)
}

// addPorts and removePorts copy a container's set before changing it:
// the set may still be the one of the store Apply has not replaced.
func (d data) addPorts(id string, ms []ports.Mapping) error {
	if len(ms) == 0 {
		return nil
	}
	own := maps.Clone(d.ports[id])
	if own == nil {
		own = map[binding]ports.Mapping{}
	}
	for _, m := range ms {
		m, k, err := canonical(m)
		if err != nil {
			return err
		}
		if holder, ok := d.holders[k]; ok && holder != id {
			return fmt.Errorf("host port %s is already container %s's", m, holder)
		}
		own[k], d.holders[k] = m, id
	}
	d.ports[id] = own
	return nil
}

func (d data) removePorts(id string, ms []ports.Mapping) error {
	own := maps.Clone(d.ports[id])
	for _, m := range ms {
		_, k, err := canonical(m)
		if err != nil {
			return err
		}
		if _, ok := own[k]; ok {
			delete(own, k)
			delete(d.holders, k)
		}
	}
	if len(own) == 0 {
		delete(d.ports, id)
	} else {
		d.ports[id] = own
	}
	return nil
}
