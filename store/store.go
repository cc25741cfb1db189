// Package store is the seam between bpfnet's control plane and where its
// truth lives: the records of networks and containers, the index of
// published ports and the allocation indexes, read a few at a time and
// changed in atomic sets. boltstore keeps one instance's state in a local
// file; a cluster-wide store (etcd) implements the same interface;
// memstore serves unit tests.
package store

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
)

// Store is what the control plane reads and writes. Callers serialise
// changes (the instance lock); reads see the last applied change.
type Store interface {
	// Load reads the networks; containers are read as needed.
	Load() (*model.State, error)
	// Containers reads every container record.
	Containers() (map[string]*model.Container, error)
	// Container reads one container record; nil when there is none.
	Container(id string) (*model.Container, error)
	// ContainerID resolves a name, full ID or unique ID prefix.
	ContainerID(ref string) (id string, ok bool, err error)
	// HasContainers tells whether any container exists.
	HasContainers() (bool, error)
	// UsedIPs is the addresses the endpoints on a network hold, in
	// increasing order.
	UsedIPs(networkID string) ([]netip.Addr, error)
	// NetworkContainers is the IDs of the containers on a network.
	NetworkContainers(networkID string) ([]string, error)
	// FreeSlot is the lowest endpoint slot from first below max that no
	// endpoint holds.
	FreeSlot(first, max uint32) (slot uint32, ok bool, err error)
	// Ports is a container's published ports.
	Ports(containerID string) ([]ports.Mapping, error)
	// HasPorts tells whether a container publishes ports.
	HasPorts(containerID string) (bool, error)
	// WithPortIndex runs fn with the index of every published port,
	// unchanging for the duration of fn.
	WithPortIndex(fn func(ports.Held) error) error
	// Apply writes a change atomically.
	Apply(Change) error
	// Meta and PutMeta read and write the store's own facts.
	Meta(key string) (string, error)
	PutMeta(key, value string) error
	// Verify checks every record (O(size)): for checks and repairs.
	Verify() error
	// Path names the store in messages.
	Path() string
	Close() error
}

// Change is a set of writes applied in one transaction.
type Change struct {
	PutNetworks      []*model.Network
	DeleteNetworks   []string
	PutContainers    []*model.Container
	DeleteContainers []string                   // and their published ports
	AddPorts         map[string][]ports.Mapping // by container ID
	RemovePorts      map[string][]ports.Mapping // by container ID
}

// ErrConflict marks a change refused because the state it was planned on
// changed under it: another writer (a host sharing a cluster store) took an
// address, name or port first, or changed a record the change read. Nothing
// of the change was applied; read again and plan again, or report it.
// Stores with one writer (the instance lock) never return it.
var ErrConflict = errors.New("the store changed under this change")

// ErrDamaged marks a store that cannot be trusted: its pages, its records
// or its history (commits lost) are not what was written.
var ErrDamaged = errors.New("store damaged")

// DamagedError is a damaged store, with the recovery the user has.
type DamagedError struct {
	Path   string
	Backup string // "" when the store keeps none
	Err    error
}

func (e *DamagedError) Error() string {
	if e.Backup == "" {
		return fmt.Sprintf("store %s is damaged (%v): run 'bpfnet system reset' to remove the instance", e.Path, e.Err)
	}
	return fmt.Sprintf("store %s is damaged (%v): run 'bpfnet system repair' to restore it from its backup %s, or 'bpfnet system reset' to remove the instance",
		e.Path, e.Err, e.Backup)
}

func (e *DamagedError) Unwrap() error        { return e.Err }
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }
