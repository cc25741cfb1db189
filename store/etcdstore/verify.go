package etcdstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfnet/bpfnet/ctl/ports"
)

// Verify reads every key under the prefix in one request (one revision)
// and checks that every record decodes, that the indexes hold exactly
// the entries the records give (no entry missing, stale or held twice),
// that published ports and host bindings agree, and that no key is
// unknown. It reports up to ten problems, as store.ErrDamaged.
func (s *Store) Verify() error {
	resp, err := s.get("read every key", s.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	v := verifier{s: s, actual: map[string]string{}, want: map[string]string{}}
	for _, kv := range resp.Kvs {
		v.record(strings.TrimPrefix(string(kv.Key), s.prefix), string(kv.Value))
	}
	v.compareIndexes()
	if len(v.problems) == 0 {
		return nil
	}
	if len(v.problems) > 10 {
		v.problems = append(v.problems[:10], fmt.Errorf("and %d more", len(v.problems)-10))
	}
	return s.damaged("verify", errors.Join(v.problems...))
}

type verifier struct {
	s        *Store
	schema   bool
	actual   map[string]string // index key (without the prefix) -> holder, as stored
	want     map[string]string // index key -> holder, as the records give it
	problems []error
}

func (v *verifier) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Errorf(format, args...))
}

// claim records that holder's record holds the index key k.
func (v *verifier) claim(k, holder string) {
	if other, ok := v.want[k]; ok && other != holder {
		v.problem("%s is held by both %.12s and %.12s", k, other, holder)
		return
	}
	v.want[k] = holder
}

// record checks one key (without the prefix) and its value.
func (v *verifier) record(k, value string) {
	dir, rest, _ := strings.Cut(k, "/")
	switch dir + "/" {
	case dirSchema:
		v.schema = rest == "schema" && value == schemaVersion
		if !v.schema {
			v.problem("store key %s = %q, want schema %q", k, value, schemaVersion)
		}
	case dirNetworks:
		n, err := v.s.decodeNetwork(rest, []byte(value))
		if err != nil {
			v.problems = append(v.problems, err)
			return
		}
		for _, e := range v.s.networkEntries(n) {
			v.claim(strings.TrimPrefix(e.key, v.s.prefix), n.ID)
		}
	case dirContainers:
		c, err := v.s.decodeContainer(rest, []byte(value))
		if err != nil {
			v.problems = append(v.problems, err)
			return
		}
		for _, e := range v.s.containerEntries(c) {
			v.claim(strings.TrimPrefix(e.key, v.s.prefix), c.ID)
		}
	case dirNetworkNames, dirContainerNames, dirIPs, dirSlots, dirPorts:
		v.actual[k] = value
	case dirPublished:
		v.published(k, rest, value)
	case dirMeta, dirLock + "/":
		// the caller's values; the lock's keys
	default:
		v.problem("unknown key %s", k)
	}
}

// published checks a published port: its binding and text agree, and the
// binding is the container's.
func (v *verifier) published(k, rest, value string) {
	id, b, _ := strings.Cut(rest, "/")
	var m ports.Mapping
	if err := m.UnmarshalText([]byte(value)); err != nil {
		v.problem("published port %s: %w", k, err)
		return
	}
	if _, want, _, err := canonical(m); err != nil || want != b {
		v.problem("published port %s holds %q, the mapping of another binding", k, value)
		return
	}
	v.claim(dirPorts+b, id)
}

// compareIndexes reports entries missing, stale or pointing elsewhere.
func (v *verifier) compareIndexes() {
	if !v.schema {
		v.problem("the store's schema key is missing")
	}
	for _, k := range slices.Sorted(maps.Keys(v.want)) {
		if got, ok := v.actual[k]; !ok {
			v.problem("index entry %s of %.12s is missing", k, v.want[k])
		} else if got != v.want[k] {
			v.problem("index entry %s names %.12s, its record is %.12s's", k, got, v.want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v.actual)) {
		if _, ok := v.want[k]; !ok {
			v.problem("index entry %s (%.12s) belongs to no record", k, v.actual[k])
		}
	}
}
