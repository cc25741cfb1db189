// Package boltstore keeps one instance's store in a bbolt file: one JSON
// record per network and container, the published ports and allocation
// indexes beside them, a generation count and a backup (backup.go).
package boltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

var (
	bucketNetworks   = []byte("networks")
	bucketContainers = []byte("containers")
	bucketMeta       = []byte("meta")
	keySchema        = []byte("schema")
	storeBuckets     = [][]byte{bucketNetworks, bucketContainers, bucketMeta, bucketHostPorts, bucketContainerPorts,
		bucketContainerNames, bucketEndpointIPs, bucketEndpointSlots}
)

// schemaVersion changes when a record's layout does; Open refuses a store
// written by a newer bpfnet and upgrades an older one. 3: published ports
// moved from container records to their own index (portstore.go). 4:
// indexes of container names, endpoint addresses and slots (storeindex.go).
const schemaVersion = "4"

// Store persists networks and containers in a bbolt file, one JSON record
// per object, and published ports in an index. Callers serialise access
// with the instance lock.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool
	backup   *bolt.DB // opened once per Store, when it exists (backup.go)
}

// Open opens (creating, initialising or upgrading) the store at path.
func Open(path string) (*Store, error) { return openMode(path, false) }

// OpenReadOnly opens the store for reading only (a shared bbolt lock, no
// write): what read-only commands use, and what works on a read-only root.
// A store that needs initialising or an upgrade is ErrNeedsWrite.
func OpenReadOnly(path string) (*Store, error) { return openMode(path, true) }

func openMode(path string, readOnly bool) (*Store, error) {
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second, ReadOnly: readOnly})
		return err
	})
	if err != nil {
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, readOnly: readOnly}
	// Most commands find the store current: a read transaction checks that
	// without the two fdatasyncs of a write.
	var current, layoutDamaged bool
	err = s.view(func(tx *bolt.Tx) error {
		current = true
		for _, b := range storeBuckets {
			current = current && tx.Bucket(b) != nil
		}
		schema := ""
		if meta := tx.Bucket(bucketMeta); meta != nil {
			schema = string(meta.Get(keySchema))
		}
		layoutDamaged = schema == schemaVersion && !current
		current = current && schema == schemaVersion
		return nil
	})
	switch {
	case err != nil:
	case layoutDamaged:
		err = damaged(path, fmt.Errorf("a bucket of the store is missing"))
	case !current && readOnly:
		err = ErrNeedsWrite
	case !current:
		err = s.update(initialiseStore)
		if errors.Is(err, errLayout) {
			err = damaged(path, err)
		}
	}
	if err != nil {
		db.Close()
		if errors.Is(err, store.ErrDamaged) || errors.Is(err, ErrNeedsWrite) {
			return nil, err
		}
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	if err := s.checkBehindBackup(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ErrNeedsWrite: the store must be initialised or upgraded, which a
// read-only open cannot do.
var ErrNeedsWrite = errors.New("the store needs initialising or an upgrade")

// errLayout marks a store whose buckets are not what any bpfnet wrote.
var errLayout = errors.New("damaged layout")

// initialiseStore creates what is missing and upgrades older records.
func initialiseStore(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	schema := ""
	if meta != nil {
		schema = string(meta.Get(keySchema))
	}
	empty := true
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	// Buckets are created only for a new store or by a known upgrade: a
	// bucket missing from an existing store is damage, and recreating it
	// empty would silently forget what it held.
	switch {
	case empty:
	case schema == "2" || schema == "3":
		if tx.Bucket(bucketNetworks) == nil || tx.Bucket(bucketContainers) == nil {
			return fmt.Errorf("store schema %s without its networks or containers: %w", schema, errLayout)
		}
	case schema == schemaVersion:
		return fmt.Errorf("a bucket of the store is missing: %w", errLayout)
	case schema == "":
		return fmt.Errorf("the store's schema record is missing: %w", errLayout)
	default:
		return fmt.Errorf("store schema %s, this bpfnet knows %s", schema, schemaVersion)
	}
	for _, b := range storeBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	meta = tx.Bucket(bucketMeta)
	switch schema {
	case "2":
		if err := movePortsToIndex(tx); err != nil {
			return fmt.Errorf("upgrade store schema 2: %w", err)
		}
		fallthrough
	case "3":
		if err := buildIndexes(tx); err != nil {
			return fmt.Errorf("upgrade store schema %s: %w", schema, err)
		}
	}
	if err := countRecords(tx); err != nil {
		return err
	}
	return meta.Put(keySchema, []byte(schemaVersion))
}

// movePortsToIndex upgrades schema 2, where each container record held its
// published ports, to the port index.
func movePortsToIndex(tx *bolt.Tx) error {
	ctrs := tx.Bucket(bucketContainers)
	type upgrade struct {
		id     string
		record []byte
		ports  []ports.Mapping
	}
	var todo []upgrade
	err := ctrs.ForEach(func(k, v []byte) error {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(v, &fields); err != nil {
			return fmt.Errorf("container %s: %w", k, err)
		}
		var ms []ports.Mapping
		if raw, ok := fields["Ports"]; ok {
			if err := json.Unmarshal(raw, &ms); err != nil {
				return fmt.Errorf("ports of container %s: %w", k, err)
			}
			delete(fields, "Ports")
		}
		record, err := json.Marshal(fields)
		todo = append(todo, upgrade{string(k), record, ms})
		return err
	})
	if err != nil {
		return err
	}
	for _, u := range todo {
		if err := ctrs.Put([]byte(u.id), u.record); err != nil {
			return err
		}
		if err := addPorts(tx, u.id, u.ports); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) Close() error {
	s.closeBackup()
	return s.db.Close()
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Load reads the network records; containers are read as needed.
func (s *Store) Load() (*model.State, error) {
	st := &model.State{Networks: map[string]*model.Network{}, Containers: map[string]*model.Container{}}
	err := s.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
			n := new(model.Network)
			st.Networks[string(k)] = n
			if err := json.Unmarshal(v, n); err != nil {
				return s.damaged(fmt.Errorf("network record %q: %w", k, err))
			}
			return nil
		})
		if want, ok := recordCount(tx, keyNetworkCount); err == nil && ok && want != uint64(len(st.Networks)) {
			err = s.damaged(fmt.Errorf("it holds %d network records of the %d it counts", len(st.Networks), want))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	for id, n := range st.Networks {
		if !model.ValidID(id) || n.ID != id {
			return nil, s.damaged(fmt.Errorf("network record %q has an invalid ID", id))
		}
	}
	return st, nil
}

// LoadAll reads every record.
func (s *Store) LoadAll() (*model.State, error) {
	st, err := s.Load()
	if err != nil {
		return nil, err
	}
	if st.Containers, err = s.Containers(); err != nil {
		return nil, err
	}
	return st, nil
}

// Containers reads every container record.
func (s *Store) Containers() (map[string]*model.Container, error) {
	all := map[string]*model.Container{}
	err := s.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
			c := new(model.Container)
			if err := json.Unmarshal(v, c); err != nil {
				return s.damaged(fmt.Errorf("container record %q: %w", k, err))
			}
			if err := c.Validate(string(k)); err != nil {
				return s.damaged(err)
			}
			all[string(k)] = c
			return nil
		})
		if want, ok := recordCount(tx, keyContainerCount); err == nil && ok && want != uint64(len(all)) {
			err = s.damaged(fmt.Errorf("it holds %d container records of the %d it counts", len(all), want))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	return all, nil
}

// Meta reads a value of the meta bucket ("" when missing).
func (s *Store) Meta(key string) (string, error) {
	var v string
	err := s.view(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read store meta %s: %w", key, err)
	}
	return v, nil
}

// reservedMeta are the meta keys the store keeps for itself.
var reservedMeta = map[string]bool{
	string(keySchema): true, string(keyGeneration): true, string(keyNetworkCount): true, string(keyContainerCount): true,
}

// PutMeta writes a value of the meta bucket; the store's own keys are
// refused.
func (s *Store) PutMeta(key, value string) error {
	if reservedMeta[key] {
		return fmt.Errorf("write store meta %s: the store keeps that key itself", key)
	}
	err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte(key), []byte(value)) })
	if err != nil {
		return fmt.Errorf("write store meta %s: %w", key, err)
	}
	return nil
}

// Apply writes ch atomically.
func (s *Store) Apply(ch store.Change) error {
	err := s.update(func(tx *bolt.Tx) error {
		nets, ctrs := tx.Bucket(bucketNetworks), tx.Bucket(bucketContainers)
		for _, n := range ch.PutNetworks {
			if err := putCounted(tx, nets, keyNetworkCount, n.ID, n); err != nil {
				return err
			}
		}
		for _, id := range ch.DeleteNetworks {
			if err := deleteCounted(tx, nets, keyNetworkCount, id); err != nil {
				return err
			}
		}
		for _, c := range ch.PutContainers {
			if err := unindexContainer(tx, c.ID); err != nil {
				return err
			}
			if err := putCounted(tx, ctrs, keyContainerCount, c.ID, c); err != nil {
				return err
			}
			if err := indexContainer(tx, c); err != nil {
				return err
			}
		}
		for _, id := range ch.DeleteContainers {
			if err := unindexContainer(tx, id); err != nil {
				return err
			}
			if err := deleteCounted(tx, ctrs, keyContainerCount, id); err != nil {
				return err
			}
			if err := removeAllPorts(tx, id); err != nil {
				return err
			}
		}
		for id, ms := range ch.RemovePorts {
			if err := removePorts(tx, id, ms); err != nil {
				return err
			}
		}
		for id, ms := range ch.AddPorts {
			if err := addPorts(tx, id, ms); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put([]byte(key), data)
}

var _ store.Store = (*Store)(nil)
