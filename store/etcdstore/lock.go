package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Lock takes the cluster lock of the store's prefix: what the instance's
// flock is to one host, for every host writing the cluster's state. Hold
// it from the reads a change is planned on to its Apply, so that writers
// take turns instead of failing with conflicts. It waits while another
// holds the lock, until ctx ends (60 s, Options.LockWait, when ctx has no
// deadline).
//
// The lock is a concurrency.Mutex on a lease of Options.LockTTL seconds,
// kept alive while this store is open: a holder that dies or loses etcd
// releases it when the lease expires. While this store holds it, Apply
// commits only if the lock is still its own (ErrLockLost otherwise), so a
// holder cut off for longer than the TTL cannot overwrite its successor.
func (s *Store) Lock(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("lock %s: %w", s.Path(), err)
	}
	return nil
}

func (s *Store) lock(ctx context.Context) error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	session, err := s.lockSession()
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.LockWait)
		defer cancel()
	}
	m := concurrency.NewMutex(session, s.key(dirLock))
	for {
		// TryLock, not Lock: Lock's clean-up after a failed wait has no
		// deadline, and would hang on an etcd gone meanwhile.
		rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		err := m.TryLock(rctx)
		cancel()
		switch {
		case err == nil:
			s.mu.Lock()
			s.mutex = m
			s.mu.Unlock()
			return nil
		case !errors.Is(err, concurrency.ErrLocked):
			return s.requestError(rctx, "take the lock", err)
		}
		if err := s.awaitRelease(ctx); err != nil {
			return err
		}
	}
}

// awaitRelease returns when a key of the lock's prefix is deleted (a
// holder's release, or its lease's end), or none is left.
func (s *Store) awaitRelease(ctx context.Context) error {
	prefix := s.key(dirLock, "/")
	rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	resp, err := s.client.Get(rctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return s.requestError(rctx, "read the lock", err)
	}
	if resp.Count == 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithFilterPut())
	started := time.Now()
	<-events // a release, or the watch's end: try again
	if ctx.Err() != nil {
		return fmt.Errorf("another writer held the lock for all of %v: %w", time.Since(started).Round(time.Millisecond), ctx.Err())
	}
	return nil
}

// lockSession is the session the lock is taken on: the store's, or a new
// one when there is none or its lease has expired.
func (s *Store) lockSession() (*concurrency.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mutex != nil {
		return nil, errors.New("this store holds the lock already")
	}
	if s.session != nil {
		select {
		case <-s.session.Done(): // the lease expired: a new one
			s.endSession()
		default:
			return s.session, nil
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	lease, err := s.client.Grant(ctx, int64(s.opts.LockTTL))
	if err != nil {
		return nil, s.requestError(ctx, "grant the lock's lease", err)
	}
	session, err := concurrency.NewSession(s.client, concurrency.WithLease(lease.ID), concurrency.WithContext(s.base))
	if err != nil {
		return nil, fmt.Errorf("keep the lock's lease alive: %w", err)
	}
	s.session = session
	return session, nil
}

// Unlock releases the cluster lock.
func (s *Store) Unlock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mutex == nil {
		return fmt.Errorf("unlock %s: this store does not hold the lock", s.Path())
	}
	return s.unlockLocked()
}

// unlockLocked releases the lock, with s.mu held. A lock etcd cannot be
// told about is released when its lease expires.
func (s *Store) unlockLocked() error {
	m := s.mutex
	s.mutex = nil
	ctx, cancel := s.ctx()
	defer cancel()
	if err := m.Unlock(ctx); err != nil {
		return fmt.Errorf("unlock %s: %w (the lock is released when its lease ends, within %d s)",
			s.Path(), s.requestError(ctx, "release the lock", err), s.opts.LockTTL)
	}
	return nil
}

// endSession stops keeping the lock's lease alive and revokes it, with
// s.mu held; an etcd that cannot be told lets the lease expire.
func (s *Store) endSession() {
	s.session.Orphan()
	ctx, cancel := s.ctx()
	defer cancel()
	_, _ = s.client.Revoke(ctx, s.session.Lease())
	s.session = nil
}
