package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// txn is a change in preparation: the keys it read, with the revision each
// was last changed at, and the writes it will make. commit sends the
// writes in one etcd transaction that succeeds only if every key read is
// still as it was read: optimistic concurrency, so a writer that read
// before another's commit fails instead of overwriting it.
type txn struct {
	s      *Store
	read   map[string]readKey
	ranges []readRange
	writes map[string]*string // nil: delete
	err    error              // a key used without being read: a bug
}

type readKey struct {
	value  string
	ok     bool  // the key exists
	modRev int64 // 0 when absent
}

// readRange is a prefix read whole at revision rev: no key may appear
// under it or change before the commit.
type readRange struct {
	prefix string
	rev    int64
}

func (s *Store) newTxn() *txn {
	return &txn{s: s, read: map[string]readKey{}, writes: map[string]*string{}}
}

// readsPerRequest keeps a read under etcd's default limit of 128
// operations in one transaction.
const readsPerRequest = 100

// fetch reads keys (absent ones included) and prefixes whole, in as few
// requests as the limit allows. Reads of several requests may see several
// revisions: commit checks each key, so the change is still planned on
// one state.
func (t *txn) fetch(ctx context.Context, keys, prefixes []string) error {
	type want struct {
		key   string
		whole bool // a prefix, read whole
	}
	var ops []clientv3.Op
	var wants []want
	for _, k := range keys {
		if _, done := t.read[k]; !done && !slices.Contains(wants, want{k, false}) {
			ops, wants = append(ops, clientv3.OpGet(k)), append(wants, want{k, false})
		}
	}
	for _, p := range prefixes {
		ops, wants = append(ops, clientv3.OpGet(p, clientv3.WithPrefix())), append(wants, want{p, true})
	}
	for len(ops) > 0 {
		n := min(len(ops), readsPerRequest)
		resp, err := t.s.client.Txn(ctx).Then(ops[:n]...).Commit()
		if err != nil {
			return t.s.requestError(ctx, "read what the change replaces", err)
		}
		for i, r := range resp.Responses {
			kvs := r.GetResponseRange().Kvs
			if w := wants[i]; w.whole {
				t.ranges = append(t.ranges, readRange{w.key, resp.Header.Revision})
			} else {
				t.read[w.key] = readKey{}
			}
			for _, kv := range kvs {
				t.read[string(kv.Key)] = readKey{string(kv.Value), true, kv.ModRevision}
			}
		}
		ops, wants = ops[n:], wants[n:]
	}
	return nil
}

// get is key's value as the change has made it so far.
func (t *txn) get(key string) (string, bool) {
	if w, ok := t.writes[key]; ok {
		if w == nil {
			return "", false
		}
		return *w, true
	}
	r, ok := t.read[key]
	if !ok && t.err == nil {
		t.err = fmt.Errorf("internal error: key %s used before it was read", key)
	}
	return r.value, r.ok
}

func (t *txn) put(key, value string) { t.writes[key] = &value }
func (t *txn) del(key string)        { t.writes[key] = nil }

// under is the keys under prefix as the change has made them so far
// (prefix must have been fetched whole).
func (t *txn) under(prefix string) []string {
	var keys []string
	for k, r := range t.read {
		if w, written := t.writes[k]; strings.HasPrefix(k, prefix) && (written && w != nil || !written && r.ok) {
			keys = append(keys, k)
		}
	}
	for k, w := range t.writes {
		if _, read := t.read[k]; !read && w != nil && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// commit sends the writes, if any, in one transaction guarded by every
// read and by guards; onFail are reads that tell why it failed. The
// response is nil when nothing changes.
func (t *txn) commit(ctx context.Context, guards []clientv3.Cmp, onFail []clientv3.Op) (*clientv3.TxnResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	var ops []clientv3.Op
	for _, k := range slices.Sorted(maps.Keys(t.writes)) {
		w := t.writes[k]
		r, read := t.read[k]
		switch {
		case w == nil && (r.ok || !read):
			ops = append(ops, clientv3.OpDelete(k))
		case w != nil && (!r.ok || r.value != *w):
			ops = append(ops, clientv3.OpPut(k, *w))
		}
	}
	if len(ops) == 0 {
		return nil, nil // nothing changes: nothing to guard either
	}
	cmps := guards
	for _, k := range slices.Sorted(maps.Keys(t.read)) {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.read[k].modRev))
	}
	for _, r := range t.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.prefix), "<", r.rev+1).WithPrefix())
	}
	resp, err := t.s.client.Txn(ctx).If(cmps...).Then(ops...).Else(onFail...).Commit()
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		return nil, fmt.Errorf("a change of %d writes guarded by %d checks is more than one etcd transaction takes "+
			"(etcd's --max-txn-ops, 128 by default): %w", len(ops), len(cmps), err)
	}
	if err != nil {
		return nil, t.s.requestError(ctx, fmt.Sprintf("commit %d writes", len(ops)), err)
	}
	return resp, nil
}
