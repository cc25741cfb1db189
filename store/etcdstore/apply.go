package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// ErrLockLost: the store held the cluster lock when the change was
// planned, and no longer did when it was to be written (its lease expired,
// so another writer may hold the lock). Nothing was written; Unlock, then
// Lock again and plan the change again.
var ErrLockLost = errors.New("the cluster lock was lost")

// Apply writes ch in one etcd transaction: all of it or nothing. It reads
// the records and index keys the change replaces (two requests), plans the
// writes on what it read, and commits them only if none of those keys
// changed meanwhile and, while this store holds the cluster lock, the lock
// is still its own. A name, address, slot or host port another record
// holds, or any key changed by another writer, is a *ConflictError
// (store.ErrConflict).
func (s *Store) Apply(ch store.Change) error {
	if err := s.apply(ch); err != nil {
		return fmt.Errorf("write %s: %w", s.Path(), err)
	}
	return nil
}

// publication is one host binding of a container in a change.
type publication struct {
	containerID, binding, text string
	m                          ports.Mapping
}

func (s *Store) apply(ch store.Change) error {
	if err := checkChange(ch); err != nil {
		return err
	}
	adds, err := publications(ch.AddPorts)
	if err != nil {
		return err
	}
	removes, err := publications(ch.RemovePorts)
	if err != nil {
		return err
	}
	if len(ch.PutNetworks)+len(ch.DeleteNetworks)+len(ch.PutContainers)+len(ch.DeleteContainers)+len(adds)+len(removes) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	t := s.newTxn()

	// First read: the records replaced and the published ports touched.
	var keys, prefixes []string
	for _, n := range ch.PutNetworks {
		keys = append(keys, s.networkKey(n.ID))
	}
	for _, id := range validIDs(ch.DeleteNetworks) {
		keys = append(keys, s.networkKey(id))
	}
	for _, c := range ch.PutContainers {
		keys = append(keys, s.containerKey(c.ID))
	}
	for _, id := range validIDs(ch.DeleteContainers) {
		keys = append(keys, s.containerKey(id))
		prefixes = append(prefixes, s.publishedDir(id))
	}
	for _, p := range append(adds, removes...) {
		keys = append(keys, s.portKey(p.binding), s.publishedDir(p.containerID)+p.binding)
	}
	if err := t.fetch(ctx, keys, prefixes); err != nil {
		return err
	}

	// Second read: the index keys of the records replaced and put, and
	// the holders of the bindings the deleted containers publish.
	nets, ctrs := map[string]*model.Network{}, map[string]*model.Container{}
	keys = nil
	for _, k := range t.under(s.key(dirNetworks)) {
		id := strings.TrimPrefix(k, s.key(dirNetworks))
		v, _ := t.get(k)
		if nets[id], err = s.decodeNetwork(id, []byte(v)); err != nil {
			return err
		}
		keys = append(keys, entryKeys(s.networkEntries(nets[id]))...)
	}
	for _, k := range t.under(s.key(dirContainers)) {
		id := strings.TrimPrefix(k, s.key(dirContainers))
		v, _ := t.get(k)
		if ctrs[id], err = s.decodeContainer(id, []byte(v)); err != nil {
			return err
		}
		keys = append(keys, entryKeys(s.containerEntries(ctrs[id]))...)
	}
	for _, n := range ch.PutNetworks {
		keys = append(keys, entryKeys(s.networkEntries(n))...)
	}
	for _, c := range ch.PutContainers {
		keys = append(keys, entryKeys(s.containerEntries(c))...)
	}
	for _, id := range validIDs(ch.DeleteContainers) {
		for _, k := range t.under(s.publishedDir(id)) {
			keys = append(keys, s.portKey(strings.TrimPrefix(k, s.publishedDir(id))))
		}
	}
	if err := t.fetch(ctx, keys, nil); err != nil {
		return err
	}
	if err := s.plan(t, ch, nets, ctrs, adds, removes); err != nil {
		return err
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	return s.commit(ctx, t)
}

// plan makes the writes of ch on t, in the order memstore applies them:
// networks, containers, removed ports, added ports. nets and ctrs are the
// records stored now; their index entries are freed first, so a record
// may take what another gives up in the same change.
func (s *Store) plan(t *txn, ch store.Change, nets map[string]*model.Network, ctrs map[string]*model.Container, adds, removes []publication) error {
	for id, n := range nets {
		t.unindex(s.networkEntries(n), id)
	}
	for id, c := range ctrs {
		t.unindex(s.containerEntries(c), id)
	}
	for _, n := range ch.PutNetworks {
		if old := nets[n.ID]; old != nil {
			t.unindex(s.networkEntries(old), n.ID) // put earlier in this change
		}
		if err := t.index(s.networkEntries(n), n.ID); err != nil {
			return err
		}
		if err := putJSON(t, s.networkKey(n.ID), n); err != nil {
			return err
		}
		nets[n.ID] = n
	}
	for _, id := range validIDs(ch.DeleteNetworks) {
		if old := nets[id]; old != nil {
			t.unindex(s.networkEntries(old), id)
		}
		t.del(s.networkKey(id))
		delete(nets, id)
	}
	for _, c := range ch.PutContainers {
		if old := ctrs[c.ID]; old != nil {
			t.unindex(s.containerEntries(old), c.ID)
		}
		if err := t.index(s.containerEntries(c), c.ID); err != nil {
			return err
		}
		if err := putJSON(t, s.containerKey(c.ID), c); err != nil {
			return err
		}
		ctrs[c.ID] = c
	}
	for _, id := range validIDs(ch.DeleteContainers) {
		if old := ctrs[id]; old != nil {
			t.unindex(s.containerEntries(old), id)
		}
		t.del(s.containerKey(id))
		delete(ctrs, id)
		for _, k := range t.under(s.publishedDir(id)) {
			t.unindex([]entry{{key: s.portKey(strings.TrimPrefix(k, s.publishedDir(id)))}}, id)
			t.del(k)
		}
	}
	for _, p := range removes {
		t.del(s.publishedDir(p.containerID) + p.binding)
		t.unindex([]entry{{key: s.portKey(p.binding)}}, p.containerID)
	}
	for _, p := range adds {
		if holder, ok := t.get(s.portKey(p.binding)); ok && holder != p.containerID {
			return &ConflictError{What: fmt.Sprintf("Bind for %s:%d failed: port is already allocated (to container %.12s)",
				ports.BindAddr(p.m.HostIP), p.m.HostPort, holder), Kind: ports.ErrPortAllocated}
		}
		t.put(s.portKey(p.binding), p.containerID)
		t.put(s.publishedDir(p.containerID)+p.binding, p.text)
	}
	return nil
}

// commit writes t, guarded by the cluster lock while this store holds it.
func (s *Store) commit(ctx context.Context, t *txn) error {
	s.mu.Lock()
	lock := s.mutex
	s.mu.Unlock()
	var guards []clientv3.Cmp
	var onFail []clientv3.Op
	if lock != nil {
		guards, onFail = []clientv3.Cmp{lock.IsOwner()}, []clientv3.Op{clientv3.OpGet(lock.Key())}
	}
	resp, err := t.commit(ctx, guards, onFail)
	switch {
	case err != nil:
		return err
	case resp == nil || resp.Succeeded:
		return nil
	case lock != nil && len(resp.Responses[0].GetResponseRange().Kvs) == 0:
		return &ConflictError{What: fmt.Sprintf("%v (its lease expired): nothing written", ErrLockLost), Kind: ErrLockLost}
	default:
		return &ConflictError{What: "another writer changed what this change was planned on: nothing written"}
	}
}

// checkChange refuses records whose keys could not be what they name.
func checkChange(ch store.Change) error {
	for _, n := range ch.PutNetworks {
		if n == nil || !model.ValidID(n.ID) || n.Name == "" {
			return fmt.Errorf("network record %v: an ID of 64 hex digits and a name are needed", n)
		}
	}
	for _, c := range ch.PutContainers {
		if c == nil {
			return errors.New("a nil container record")
		}
		if err := c.Validate(c.ID); err != nil {
			return err
		}
		if c.Name == "" {
			return fmt.Errorf("container %s has no name", c.ID)
		}
	}
	for _, set := range []map[string][]ports.Mapping{ch.AddPorts, ch.RemovePorts} {
		for id := range set {
			if !model.ValidID(id) {
				return fmt.Errorf("published ports of container %q: invalid ID", id)
			}
		}
	}
	return nil
}

// validIDs are the IDs that can have a record: others have nothing to
// delete.
func validIDs(ids []string) []string {
	var valid []string
	for _, id := range ids {
		if model.ValidID(id) {
			valid = append(valid, id)
		}
	}
	return valid
}

func publications(set map[string][]ports.Mapping) ([]publication, error) {
	var ps []publication
	for id, ms := range set {
		for _, m := range ms {
			m, b, text, err := canonical(m)
			if err != nil {
				return nil, fmt.Errorf("container %s: %w", id, err)
			}
			ps = append(ps, publication{id, b, string(text), m})
		}
	}
	return ps, nil
}

func putJSON(t *txn, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	t.put(key, string(data))
	return nil
}
