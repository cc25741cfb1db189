// Package memstore is a store.Store in memory, for unit tests of the
// control plane. It passes the conformance suite (storetest) as boltstore
// does; it keeps no indexes (reads walk every record) and nothing it holds
// can be damaged, so Verify always succeeds.
package memstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// Store keeps the records in maps guarded by mu.
type Store struct {
	mu   sync.RWMutex
	d    data
	meta map[string]string
}

// data is what Apply changes. Its records are private copies never changed
// in place, so Apply can work on a shallow copy of the maps and swap it in
// only when the whole change succeeds.
type data struct {
	networks   map[string]*model.Network
	containers map[string]*model.Container
	ports      map[string]map[binding]ports.Mapping // by container ID; no empty set
	holders    map[binding]string                   // container ID by host binding
}

// New returns an empty store.
func New() *Store {
	return &Store{meta: map[string]string{}, d: data{networks: map[string]*model.Network{},
		containers: map[string]*model.Container{}, ports: map[string]map[binding]ports.Mapping{},
		holders: map[binding]string{}}}
}

var _ store.Store = (*Store)(nil)

// clone copies a record through JSON, as the real stores encode it: the
// copy shares nothing with the original, and a field added to the model
// is copied with no change here.
func clone[T any](v *T) (*T, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	c := new(T)
	return c, json.Unmarshal(data, c)
}

func (s *Store) Path() string  { return "memory" }
func (s *Store) Close() error  { return nil }
func (s *Store) Verify() error { return nil }

func (s *Store) Load() (*model.State, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := &model.State{Networks: map[string]*model.Network{}, Containers: map[string]*model.Container{}}
	for id, n := range s.d.networks {
		c, err := clone(n)
		if err != nil {
			return nil, fmt.Errorf("read network %s: %w", id, err)
		}
		st.Networks[id] = c
	}
	return st, nil
}

func (s *Store) Containers() (map[string]*model.Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	all := map[string]*model.Container{}
	for id, c := range s.d.containers {
		cc, err := clone(c)
		if err != nil {
			return nil, fmt.Errorf("read container %s: %w", id, err)
		}
		all[id] = cc
	}
	return all, nil
}

func (s *Store) Container(id string) (*model.Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.d.containers[id]
	if !ok {
		return nil, nil
	}
	cc, err := clone(c)
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	return cc, nil
}

// ContainerID resolves a name first, then a full ID, then an ID prefix
// that only one container has.
func (s *Store) ContainerID(ref string) (string, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return "", false, nil
	}
	for id, c := range s.d.containers {
		if c.Name == ref {
			return id, true, nil
		}
	}
	if _, ok := s.d.containers[ref]; ok {
		return ref, true, nil
	}
	match := ""
	for id := range s.d.containers {
		if strings.HasPrefix(id, ref) {
			if match != "" {
				return "", false, nil // ambiguous
			}
			match = id
		}
	}
	return match, match != "", nil
}

func (s *Store) HasContainers() (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.d.containers) > 0, nil
}

func (s *Store) UsedIPs(networkID string) ([]netip.Addr, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var used []netip.Addr
	for _, c := range s.d.containers {
		if ep := c.Endpoint(networkID); ep != nil {
			used = append(used, ep.IP)
		}
	}
	slices.SortFunc(used, netip.Addr.Compare)
	return used, nil
}

// NetworkContainers lists the containers by address, as boltstore does.
func (s *Store) NetworkContainers(networkID string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	byIP := map[netip.Addr]string{}
	for id, c := range s.d.containers {
		if ep := c.Endpoint(networkID); ep != nil {
			byIP[ep.IP] = id
		}
	}
	var ids []string
	for _, ip := range slices.SortedFunc(maps.Keys(byIP), netip.Addr.Compare) {
		ids = append(ids, byIP[ip])
	}
	return ids, nil
}

func (s *Store) FreeSlot(first, max uint32) (uint32, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	held := map[uint32]bool{}
	for _, c := range s.d.containers {
		for _, ep := range c.Endpoints {
			held[ep.Slot] = true
		}
	}
	slot := first
	for held[slot] {
		slot++
	}
	return slot, slot < max, nil
}

func (s *Store) Meta(key string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta[key], nil
}

func (s *Store) PutMeta(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[key] = value
	return nil
}

// Apply applies ch to a copy of the maps and keeps the copy only when all
// of ch succeeds.
func (s *Store) Apply(ch store.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := data{networks: maps.Clone(s.d.networks), containers: maps.Clone(s.d.containers),
		ports: maps.Clone(s.d.ports), holders: maps.Clone(s.d.holders)}
	if err := d.apply(ch); err != nil {
		return fmt.Errorf("write store memory: %w", err)
	}
	s.d = d
	return nil
}

func (d data) apply(ch store.Change) error {
	for _, n := range ch.PutNetworks {
		c, err := clone(n)
		if err != nil {
			return fmt.Errorf("network %s: %w", n.ID, err)
		}
		d.networks[n.ID] = c
	}
	for _, id := range ch.DeleteNetworks {
		delete(d.networks, id)
	}
	for _, c := range ch.PutContainers {
		cc, err := clone(c)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		d.containers[c.ID] = cc
	}
	for _, id := range ch.DeleteContainers {
		delete(d.containers, id)
		for k := range d.ports[id] {
			delete(d.holders, k)
		}
		delete(d.ports, id)
	}
	for id, ms := range ch.RemovePorts {
		if err := d.removePorts(id, ms); err != nil {
			return err
		}
	}
	for id, ms := range ch.AddPorts {
		if err := d.addPorts(id, ms); err != nil {
			return err
		}
	}
	return nil
}
