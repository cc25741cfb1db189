package etcdstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
)

// get is one range read, bounded by the store's timeout.
func (s *Store) get(what, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.client.Get(ctx, key, opts...)
	if err != nil {
		return nil, s.requestError(ctx, fmt.Sprintf("%s from %s", what, s.Path()), err)
	}
	return resp, nil
}

// decodeNetwork and decodeContainer read a record stored under id.
func (s *Store) decodeNetwork(id string, data []byte) (*model.Network, error) {
	n := new(model.Network)
	if err := json.Unmarshal(data, n); err != nil {
		return nil, s.damaged(fmt.Sprintf("network record %q", id), err)
	}
	if !model.ValidID(id) || n.ID != id {
		return nil, s.damaged(fmt.Sprintf("network record %q", id), errors.New("its ID is not its key's"))
	}
	return n, nil
}

func (s *Store) decodeContainer(id string, data []byte) (*model.Container, error) {
	c := new(model.Container)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, s.damaged(fmt.Sprintf("container record %q", id), err)
	}
	if err := c.Validate(id); err != nil {
		return nil, s.damaged(fmt.Sprintf("container record %q", id), err)
	}
	return c, nil
}

// Load reads the network records (one range read); containers are read
// as needed.
func (s *Store) Load() (*model.State, error) {
	resp, err := s.get("load networks", s.key(dirNetworks), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	st := &model.State{Networks: map[string]*model.Network{}, Containers: map[string]*model.Container{}}
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), s.key(dirNetworks))
		if st.Networks[id], err = s.decodeNetwork(id, kv.Value); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Containers reads every container record (one range read).
func (s *Store) Containers() (map[string]*model.Container, error) {
	resp, err := s.get("load containers", s.key(dirContainers), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	all := make(map[string]*model.Container, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), s.key(dirContainers))
		if all[id], err = s.decodeContainer(id, kv.Value); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// Container reads one container record; nil when there is none.
func (s *Store) Container(id string) (*model.Container, error) {
	if !model.ValidID(id) {
		return nil, nil // no record has that key
	}
	resp, err := s.get("read container "+id, s.containerKey(id))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return s.decodeContainer(id, resp.Kvs[0].Value)
}

// ContainerID resolves a reference as Docker does: a name, then a full ID
// or an ID prefix only one container has. Both lookups are one
// transaction: one request, one revision.
func (s *Store) ContainerID(ref string) (string, bool, error) {
	if ref == "" || strings.Contains(ref, "/") {
		return "", false, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.client.Txn(ctx).Then(
		clientv3.OpGet(s.key(dirContainerNames, ref)),
		clientv3.OpGet(s.containerKey(ref), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(2)),
	).Commit()
	if err != nil {
		return "", false, s.requestError(ctx, fmt.Sprintf("resolve container %q in %s", ref, s.Path()), err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		return string(kvs[0].Value), true, nil
	}
	// IDs all have 64 digits: a full ID is the prefix of no other.
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) != 1 {
		return "", false, nil // none, or ambiguous
	}
	return strings.TrimPrefix(string(kvs[0].Key), s.key(dirContainers)), true, nil
}

// HasContainers tells whether any container exists.
func (s *Store) HasContainers() (bool, error) {
	resp, err := s.get("count containers", s.key(dirContainers), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

// UsedIPs is the addresses held on a network, in increasing order: the
// order of their keys.
func (s *Store) UsedIPs(networkID string) ([]netip.Addr, error) {
	resp, err := s.get("read the addresses of network "+networkID, s.ipsDir(networkID), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	var used []netip.Addr
	for _, kv := range resp.Kvs {
		ip, err := parseAddrText(strings.TrimPrefix(string(kv.Key), s.ipsDir(networkID)))
		if err != nil {
			return nil, s.damaged("address index", err)
		}
		used = append(used, ip)
	}
	return used, nil
}

// NetworkContainers is the IDs of the containers on a network, by address.
func (s *Store) NetworkContainers(networkID string) ([]string, error) {
	resp, err := s.get("read the containers of network "+networkID, s.ipsDir(networkID), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, kv := range resp.Kvs {
		ids = append(ids, string(kv.Value))
	}
	return ids, nil
}

// FreeSlot is the lowest slot from first below max that no endpoint holds:
// one read of the held slots in [first, max), walked to its first gap.
func (s *Store) FreeSlot(first, max uint32) (uint32, bool, error) {
	if first >= max {
		return first, false, nil
	}
	resp, err := s.get("read the endpoint slots", s.slotKey(first), clientv3.WithRange(s.slotKey(max)), clientv3.WithKeysOnly())
	if err != nil {
		return 0, false, err
	}
	slot := first
	for _, kv := range resp.Kvs {
		n, err := parseSlot(strings.TrimPrefix(string(kv.Key), s.key(dirSlots)))
		if err != nil {
			return 0, false, s.damaged("slot index", err)
		}
		if n != slot {
			break
		}
		slot++
	}
	return slot, slot < max, nil
}

// Ports is a container's published ports, ordered by binding.
func (s *Store) Ports(containerID string) ([]ports.Mapping, error) {
	resp, err := s.get("read the published ports of container "+containerID, s.publishedDir(containerID), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var ms []ports.Mapping
	for _, kv := range resp.Kvs {
		var m ports.Mapping
		if err := m.UnmarshalText(kv.Value); err != nil {
			return nil, s.damaged("published port "+string(kv.Key), err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// HasPorts tells whether a container publishes ports.
func (s *Store) HasPorts(containerID string) (bool, error) {
	resp, err := s.get("count the published ports of container "+containerID, s.publishedDir(containerID),
		clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

// WithPortIndex runs fn with every host binding, read in one request: a
// snapshot that does not change while fn runs, and fn may call the store.
func (s *Store) WithPortIndex(fn func(ports.Held) error) error {
	resp, err := s.get("read the port index", s.key(dirPorts), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return err
	}
	held := make(ports.Mappings, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m, err := parseBinding(strings.TrimPrefix(string(kv.Key), s.key(dirPorts)))
		if err != nil {
			return s.damaged("port index", err)
		}
		held = append(held, m)
	}
	return fn(held)
}

// Meta reads a value of the caller's ("" when missing).
func (s *Store) Meta(key string) (string, error) {
	resp, err := s.get("read meta "+key, s.key(dirMeta, key))
	if err != nil || len(resp.Kvs) == 0 {
		return "", err
	}
	return string(resp.Kvs[0].Value), nil
}

// PutMeta writes a value of the caller's. Meta keys have a directory of
// their own: no name can reach a record or the store's own keys.
func (s *Store) PutMeta(key, value string) error {
	if key == "" {
		return fmt.Errorf("write meta to %s: empty key", s.Path())
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.client.Put(ctx, s.key(dirMeta, key), value); err != nil {
		return s.requestError(ctx, fmt.Sprintf("write meta %s to %s", key, s.Path()), err)
	}
	return nil
}
