package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketNetworks   = []byte("networks")
	bucketContainers = []byte("containers")
	bucketMeta       = []byte("meta")
	keySchema        = []byte("schema")
)

// schemaVersion changes when a record's layout does; Open refuses a store
// written by a newer bpfnet.
const schemaVersion = "2"

// Store persists networks and containers in a bbolt file, one JSON record
// per object. Callers serialise access with the instance lock.
type Store struct {
	db *bolt.DB
}

// State is the whole store in memory: small enough to load per command.
type State struct {
	Networks   map[string]*Network   // by ID
	Containers map[string]*Container // by ID
}

func openStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNetworks, bucketContainers, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("store schema %s, this bpfnet knows %s", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func (s *Store) Close() error { return s.db.Close() }

// Load reads every record.
func (s *Store) Load() (*State, error) {
	st := &State{Networks: map[string]*Network{}, Containers: map[string]*Container{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
			n := new(Network)
			st.Networks[string(k)] = n
			return json.Unmarshal(v, n)
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
			c := new(Container)
			st.Containers[string(k)] = c
			return json.Unmarshal(v, c)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	return st, nil
}

// Change is a set of writes applied in one transaction.
type Change struct {
	PutNetworks      []*Network
	DeleteNetworks   []string
	PutContainers    []*Container
	DeleteContainers []string
}

// Apply writes ch atomically.
func (s *Store) Apply(ch Change) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		nets, ctrs := tx.Bucket(bucketNetworks), tx.Bucket(bucketContainers)
		for _, n := range ch.PutNetworks {
			if err := putJSON(nets, n.ID, n); err != nil {
				return err
			}
		}
		for _, id := range ch.DeleteNetworks {
			if err := nets.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for _, c := range ch.PutContainers {
			if err := putJSON(ctrs, c.ID, c); err != nil {
				return err
			}
		}
		for _, id := range ch.DeleteContainers {
			if err := ctrs.Delete([]byte(id)); err != nil {
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

// ErrNotFound marks lookups of unknown networks and containers.
var ErrNotFound = errors.New("not found")

// notFound carries Docker's message and matches ErrNotFound.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }
