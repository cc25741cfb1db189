package etcdstore

import (
	"fmt"

	"github.com/bpfnet/bpfnet/model"
)

// entry is one index key a record holds: the key names something unique
// (a name, an address on a network, a slot) and its value is the ID of
// the one record that holds it.
type entry struct {
	key  string
	what string // for a conflict: `the container name "web"`
}

// networkEntries are the index keys of a network record.
func (s *Store) networkEntries(n *model.Network) []entry {
	return []entry{{s.key(dirNetworkNames, n.Name), fmt.Sprintf("the network name %q", n.Name)}}
}

// containerEntries are the index keys of a container record.
func (s *Store) containerEntries(c *model.Container) []entry {
	es := []entry{{s.key(dirContainerNames, c.Name), fmt.Sprintf("the container name %q", c.Name)}}
	for _, ep := range c.Endpoints {
		es = append(es,
			entry{s.ipKey(ep.NetworkID, ep.IP), fmt.Sprintf("address %s on network %.12s", ep.IP, ep.NetworkID)},
			entry{s.slotKey(ep.Slot), fmt.Sprintf("endpoint slot %d", ep.Slot)})
	}
	return es
}

func entryKeys(es []entry) []string {
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.key
	}
	return keys
}

// unindex removes the entries that still name id.
func (t *txn) unindex(es []entry, id string) {
	for _, e := range es {
		if holder, ok := t.get(e.key); ok && holder == id {
			t.del(e.key)
		}
	}
}

// index makes id the holder of its entries; an entry another record holds
// is a conflict: that record took it after the caller planned this change.
func (t *txn) index(es []entry, id string) error {
	for _, e := range es {
		if holder, ok := t.get(e.key); ok && holder != id {
			return &ConflictError{What: fmt.Sprintf("%s is already %.12s's", e.what, holder)}
		}
		t.put(e.key, id)
	}
	return nil
}
