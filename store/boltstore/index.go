package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/model"
	bolt "go.etcd.io/bbolt"
)

// Indexes let a command read the few records it needs, whatever the
// number of containers: only listings, checks and repairs read them all.
//
//	container_names/<name>                         -> container ID
//	endpoint_ips/<network ID>/<IPv4, 4 bytes>      -> container ID
//	endpoint_slots/<slot, 4 bytes big endian>      -> container ID
//
// They are written with the container records, in the same transaction.
var (
	bucketContainerNames = []byte("container_names")
	bucketEndpointIPs    = []byte("endpoint_ips")
	bucketEndpointSlots  = []byte("endpoint_slots")
)

func ipIndexKey(networkID string, ip netip.Addr) []byte {
	a := ip.As4()
	return append([]byte(networkID+"/"), a[:]...)
}

func slotKey(slot uint32) []byte { return binary.BigEndian.AppendUint32(nil, slot) }

// indexContainer adds c's entries to the indexes.
func indexContainer(tx *bolt.Tx, c *model.Container) error {
	id := []byte(c.ID)
	if err := tx.Bucket(bucketContainerNames).Put([]byte(c.Name), id); err != nil {
		return err
	}
	for _, ep := range c.Endpoints {
		if err := tx.Bucket(bucketEndpointIPs).Put(ipIndexKey(ep.NetworkID, ep.IP), id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEndpointSlots).Put(slotKey(ep.Slot), id); err != nil {
			return err
		}
	}
	return nil
}

// unindexContainer removes the entries of the record stored under id, if
// any, that still point at it.
func unindexContainer(tx *bolt.Tx, id string) error {
	v := tx.Bucket(bucketContainers).Get([]byte(id))
	if v == nil {
		return nil
	}
	old := new(model.Container)
	if err := json.Unmarshal(v, old); err != nil {
		return fmt.Errorf("container record %q: %w", id, err)
	}
	del := func(bucket, key []byte) error {
		b := tx.Bucket(bucket)
		if bytes.Equal(b.Get(key), []byte(id)) {
			return b.Delete(key)
		}
		return nil
	}
	if err := del(bucketContainerNames, []byte(old.Name)); err != nil {
		return err
	}
	for _, ep := range old.Endpoints {
		if err := del(bucketEndpointIPs, ipIndexKey(ep.NetworkID, ep.IP)); err != nil {
			return err
		}
		if err := del(bucketEndpointSlots, slotKey(ep.Slot)); err != nil {
			return err
		}
	}
	return nil
}

// buildIndexes indexes every container record: the upgrade from schema 3.
func buildIndexes(tx *bolt.Tx) error {
	return tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
		c := new(model.Container)
		if err := json.Unmarshal(v, c); err != nil {
			return fmt.Errorf("container record %q: %w", k, err)
		}
		return indexContainer(tx, c)
	})
}

// ContainerID resolves a container reference as Docker does: a name, a
// full ID or a unique ID prefix. ok is false when nothing matches; an
// ambiguous prefix matches nothing, as in Docker's lookup.
func (s *Store) ContainerID(ref string) (id string, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketContainerNames).Get([]byte(ref)); v != nil {
			id, ok = string(v), true
			return nil
		}
		if ref == "" {
			return nil
		}
		c := tx.Bucket(bucketContainers).Cursor()
		k, _ := c.Seek([]byte(ref))
		if k == nil || !bytes.HasPrefix(k, []byte(ref)) {
			return nil
		}
		if next, _ := c.Next(); next != nil && bytes.HasPrefix(next, []byte(ref)) && !bytes.Equal(k, []byte(ref)) {
			return nil
		}
		id, ok = string(k), true
		return nil
	})
	return id, ok, err
}

// model.Container reads one container record; nil when there is none.
func (s *Store) Container(id string) (*model.Container, error) {
	var c *model.Container
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketContainers).Get([]byte(id))
		if v == nil {
			return nil
		}
		c = new(model.Container)
		if err := json.Unmarshal(v, c); err != nil {
			return s.damaged(fmt.Errorf("container record %q: %w", id, err))
		}
		return nil
	})
	if err == nil && c != nil {
		err = c.Validate(id)
		if err != nil {
			err = s.damaged(err)
		}
	}
	return c, err
}

// UsedIPs is the addresses the endpoints on network id hold, in increasing
// order: the index's keys end in the address, big-endian.
func (s *Store) UsedIPs(networkID string) ([]netip.Addr, error) {
	var used []netip.Addr
	err := s.view(func(tx *bolt.Tx) error {
		prefix := []byte(networkID + "/")
		c := tx.Bucket(bucketEndpointIPs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) == len(prefix)+4 {
				used = append(used, netip.AddrFrom4([4]byte(k[len(prefix):])))
			}
		}
		return nil
	})
	return used, err
}

// NetworkContainers is the IDs of the containers with an endpoint on
// network id.
func (s *Store) NetworkContainers(networkID string) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		prefix := []byte(networkID + "/")
		c := tx.Bucket(bucketEndpointIPs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if !seen[string(v)] {
				seen[string(v)] = true
				ids = append(ids, string(v))
			}
		}
		return nil
	})
	return ids, err
}

// FreeSlot is the lowest endpoint slot from first below max that no
// endpoint holds, found by walking the slot index to its first gap.
func (s *Store) FreeSlot(first, max uint32) (uint32, bool, error) {
	slot := first
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEndpointSlots).Cursor()
		for k, _ := c.Seek(slotKey(first)); k != nil && len(k) == 4 && binary.BigEndian.Uint32(k) == slot; k, _ = c.Next() {
			slot++
		}
		return nil
	})
	return slot, err == nil && slot < max, err
}

// HasContainers tells whether the store holds any container.
func (s *Store) HasContainers() (bool, error) {
	var has bool
	err := s.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketContainers).Cursor().First()
		has = k != nil
		return nil
	})
	return has, err
}

// The meta bucket counts the network and container records, so a page
// damaged into an empty or shorter one is noticed when the records are
// read, rather than taken for records never written.
var (
	keyNetworkCount   = []byte("networks")
	keyContainerCount = []byte("containers")
)

// countRecords sets both counts from the records (a new or upgraded store).
func countRecords(tx *bolt.Tx) error {
	for key, bucket := range map[string][]byte{string(keyNetworkCount): bucketNetworks, string(keyContainerCount): bucketContainers} {
		n := uint64(0)
		if err := tx.Bucket(bucket).ForEach(func(_, _ []byte) error { n++; return nil }); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put([]byte(key), binary.BigEndian.AppendUint64(nil, n)); err != nil {
			return err
		}
	}
	return nil
}

// recordCount reads a count; ok is false when the store has none.
func recordCount(tx *bolt.Tx, key []byte) (n uint64, ok bool) {
	v := tx.Bucket(bucketMeta).Get(key)
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// putCounted writes a record into b and counts it if it is new.
func putCounted(tx *bolt.Tx, b *bolt.Bucket, countKey []byte, id string, v any) error {
	if b.Get([]byte(id)) == nil {
		if err := addCount(tx, countKey, 1); err != nil {
			return err
		}
	}
	return putJSON(b, id, v)
}

// deleteCounted deletes a record from b and uncounts it if it was there.
func deleteCounted(tx *bolt.Tx, b *bolt.Bucket, countKey []byte, id string) error {
	if b.Get([]byte(id)) == nil {
		return nil
	}
	if err := addCount(tx, countKey, -1); err != nil {
		return err
	}
	return b.Delete([]byte(id))
}

func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	n, ok := recordCount(tx, key)
	if !ok {
		return nil // a store without counts (none to keep)
	}
	return tx.Bucket(bucketMeta).Put(key, binary.BigEndian.AppendUint64(nil, uint64(int64(n)+delta)))
}
