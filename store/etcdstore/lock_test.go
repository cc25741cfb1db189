package etcdstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// One holder at a time: a second waits, and gets the lock when the first
// unlocks or closes its store.
func TestLockOneHolder(t *testing.T) {
	te := startEtcd(t)
	a, b := te.openAt(t, "/lock/", Options{}), te.openAt(t, "/lock/", Options{})
	defer b.Close()
	ctx := context.Background()
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx); err == nil {
		t.Error("a took the lock it holds a second time")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := b.Lock(short)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "another writer held the lock") {
		t.Fatalf("b.Lock while a holds the lock = %v, want a wait that ends with the context", err)
	}

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("b took the lock a holds: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("b.Lock after a's Unlock: %v", err)
	}
	if err := a.Unlock(); err == nil {
		t.Error("a unlocked a lock it no longer holds")
	}

	// b dies holding the lock (Close, as at exit): a gets it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx); err != nil {
		t.Fatalf("a.Lock after b's Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// A holder whose lease ends (cut off from etcd for longer than its TTL)
// may find another holder: its Apply then writes nothing.
func TestApplyAfterLockLost(t *testing.T) {
	te := startEtcd(t)
	a, b := te.openAt(t, "/lost/", Options{}), te.openAt(t, "/lost/", Options{})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	net1 := network(id("a1"), "n1", "172.18.0.0/16")
	mustApply(t, a, store.Change{PutNetworks: []*model.Network{net1}})

	// The lease ends as if a had been cut off for its TTL.
	if _, err := b.client.Revoke(ctx, a.session.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	err := a.Apply(puts(container(id("c1"), "web", net1.ID, "172.18.0.2", 1)))
	if !errors.Is(err, ErrLockLost) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply after the lock was lost = %v, want ErrLockLost", err)
	}
	if has, err := b.HasContainers(); has || err != nil {
		t.Errorf("the change of a store that lost the lock was written: %v, %v", has, err)
	}
	// b, the holder now, writes.
	mustApply(t, b, puts(container(id("c1"), "web", net1.ID, "172.18.0.2", 1)))
}
