package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/bpfnet/bpfnet/ctl/ports"
)

// Published ports live apart from container records, indexed by host
// binding, so that publishing one more port reads and writes a few keys
// whatever the number of ports the instance holds:
//
//	hostports/<binding>                    -> container ID
//	container_ports/<container ID>/<binding> -> the mapping as a -p spec
//
// A binding is 7 bytes: IP protocol, host port (big endian, so a cursor
// walks ports in order) and host address (0.0.0.0 for all).
var (
	bucketHostPorts      = []byte("hostports")
	bucketContainerPorts = []byte("container_ports")
)

const bindingLen = 7

func bindingKey(m ports.Mapping) []byte {
	k := make([]byte, bindingLen)
	k[0] = m.Proto.Number()
	binary.BigEndian.PutUint16(k[1:3], m.HostPort)
	a := ports.BindAddr(m.HostIP).Unmap().As4()
	copy(k[3:], a[:])
	return k
}

func bindingAddr(k []byte) netip.Addr { return netip.AddrFrom4([4]byte(k[3:7])) }

func bindingPort(k []byte) uint16 { return binary.BigEndian.Uint16(k[1:3]) }

// portIndex answers the allocator from hostports, inside one transaction.
type portIndex struct{ b *bolt.Bucket }

func (ix portIndex) Holds(ip netip.Addr, port uint16, proto ports.Proto) bool {
	prefix := bindingKey(ports.Mapping{Proto: proto, HostPort: port})[:3]
	c := ix.b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if ports.AddrsOverlap(bindingAddr(k), ip) {
			return true
		}
	}
	return false
}

func (ix portIndex) Highest(ip netip.Addr, proto ports.Proto, first, last uint16) uint16 {
	c := ix.b.Cursor()
	p := proto.Number()
	// Seek lands on the first key past [proto, last]; step back from there.
	var k []byte
	if last == 0xffff {
		k, _ = c.Seek([]byte{p + 1})
	} else {
		k, _ = c.Seek(bindingKey(ports.Mapping{Proto: proto, HostPort: last + 1})[:3])
	}
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && k[0] == p && bindingPort(k) >= first; k, _ = c.Prev() {
		if ports.AddrsOverlap(bindingAddr(k), ip) {
			return bindingPort(k)
		}
	}
	return 0
}

// WithPortIndex runs fn with the index of every published port, unchanging
// for the duration of fn.
func (s *Store) WithPortIndex(fn func(ports.Held) error) error {
	return s.view(func(tx *bolt.Tx) error { return fn(portIndex{tx.Bucket(bucketHostPorts)}) })
}

// Ports returns the published ports of container id, ordered by protocol,
// host port and host address.
func (s *Store) Ports(id string) ([]ports.Mapping, error) {
	var ms []ports.Mapping
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContainerPorts).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var m ports.Mapping
			if err := m.UnmarshalText(v); err != nil {
				return s.damaged(fmt.Errorf("published port of container %s: %w", id, err))
			}
			ms = append(ms, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read published ports of container %s: %w", id, err)
	}
	return ms, nil
}

// HasPorts tells whether container id has published ports.
func (s *Store) HasPorts(id string) (bool, error) {
	var has bool
	err := s.view(func(tx *bolt.Tx) error {
		has = tx.Bucket(bucketContainerPorts).Bucket([]byte(id)) != nil
		return nil
	})
	return has, err
}

func addPorts(tx *bolt.Tx, id string, ms []ports.Mapping) error {
	if len(ms) == 0 {
		return nil // no bucket: HasPorts must stay false
	}
	own, err := tx.Bucket(bucketContainerPorts).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	all := tx.Bucket(bucketHostPorts)
	for _, m := range ms {
		k := bindingKey(m)
		if holder := all.Get(k); holder != nil && string(holder) != id {
			return fmt.Errorf("host port %s is already container %s's", m, holder)
		}
		text, err := m.MarshalText()
		if err != nil {
			return err
		}
		if err := all.Put(k, []byte(id)); err != nil {
			return err
		}
		if err := own.Put(k, text); err != nil {
			return err
		}
	}
	return nil
}

func removePorts(tx *bolt.Tx, id string, ms []ports.Mapping) error {
	own := tx.Bucket(bucketContainerPorts).Bucket([]byte(id))
	if own == nil {
		return nil
	}
	all := tx.Bucket(bucketHostPorts)
	for _, m := range ms {
		k := bindingKey(m)
		if err := own.Delete(k); err != nil {
			return err
		}
		if err := deleteHeld(all, k, id); err != nil {
			return err
		}
	}
	if k, _ := own.Cursor().First(); k == nil {
		return tx.Bucket(bucketContainerPorts).DeleteBucket([]byte(id))
	}
	return nil
}

// removeAllPorts drops every published port of container id.
func removeAllPorts(tx *bolt.Tx, id string) error {
	own := tx.Bucket(bucketContainerPorts).Bucket([]byte(id))
	if own == nil {
		return nil
	}
	all := tx.Bucket(bucketHostPorts)
	if err := own.ForEach(func(k, _ []byte) error { return deleteHeld(all, k, id) }); err != nil {
		return err
	}
	return tx.Bucket(bucketContainerPorts).DeleteBucket([]byte(id))
}

// deleteHeld frees the binding k in the index only if container id holds
// it: one container's removal never frees another's port.
func deleteHeld(all *bolt.Bucket, k []byte, id string) error {
	if string(all.Get(k)) != id {
		return nil
	}
	return all.Delete(k)
}
