package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bpfnet/bpfnet/store"
)

// Options tune a Store; the zero value is the defaults.
type Options struct {
	// Timeout bounds every request to etcd (default 5 s): past it, the
	// method fails with an UnreachableError.
	Timeout time.Duration
	// LockTTL is the lease of the cluster lock in seconds (default 10): a
	// holder that dies or loses etcd releases the lock after it.
	LockTTL int
	// LockWait bounds Lock's wait for another holder when its context has
	// no deadline (default 60 s).
	LockWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 10
	}
	if o.LockWait <= 0 {
		o.LockWait = 60 * time.Second
	}
	return o
}

// Store is a store.Store on etcd: the state of one cluster, under one key
// prefix. Every read is one etcd request; Apply is one transaction that
// fails with store.ErrConflict when another writer got there first.
type Store struct {
	client    *clientv3.Client
	endpoints []string
	prefix    string // ends in "/"
	opts      Options
	base      context.Context // ends with Close
	cancel    context.CancelFunc

	lockMu  sync.Mutex           // serialises Lock and Unlock
	mu      sync.Mutex           // guards the two below
	session *concurrency.Session // the lease of the lock, made by the first Lock
	mutex   *concurrency.Mutex   // non-nil while this store holds the lock

	beforeCommit func() // a test's other writer, between Apply's reads and its commit
}

var _ store.Store = (*Store)(nil)

// Open connects to the etcd cluster at endpoints (host:port) and opens the
// store under prefix, marking a new prefix with the store's schema. ctx
// bounds the open along with opts.Timeout.
func Open(ctx context.Context, endpoints []string, prefix string, opts Options) (*Store, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("open etcd store: no endpoint given")
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("open etcd store: %w", err)
	}
	opts = opts.withDefaults()
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: opts.Timeout,
		Logger:      zap.NewNop(), // errors reach the caller; nothing prints behind its back
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd store at %s: %w", strings.Join(endpoints, ","), err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Store{client: client, endpoints: endpoints, prefix: prefix, opts: opts, base: base, cancel: cancel}
	if err := s.checkSchema(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", s.Path(), err)
	}
	return s, nil
}

func checkPrefix(prefix string) error {
	if prefix == "" || prefix == "/" {
		return errors.New("the key prefix is empty: give one per cluster, such as /bpfnet/")
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("the key prefix %q holds a control character", prefix)
		}
	}
	return nil
}

// checkSchema writes the schema key of a new prefix, or checks it.
func (s *Store) checkSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	key := s.key(dirSchema, "schema")
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, schemaVersion)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return s.requestError(ctx, "read the schema", err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) != 1 || string(kvs[0].Value) != schemaVersion {
			got := ""
			if len(kvs) == 1 {
				got = string(kvs[0].Value)
			}
			return fmt.Errorf("store schema %q, this bpfnet knows %q", got, schemaVersion)
		}
	}
	return nil
}

// Path names the store: its endpoints and prefix, as an etcd:// URL.
func (s *Store) Path() string {
	p := s.prefix
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return "etcd://" + strings.Join(s.endpoints, ",") + p
}

// Prefix is the key prefix the store's keys are under (ends in "/").
func (s *Store) Prefix() string { return s.prefix }

// Close releases the cluster lock if this store holds it and closes the
// connection. A lock etcd cannot be told about is released by its lease.
func (s *Store) Close() error {
	var err error
	s.mu.Lock()
	if s.mutex != nil {
		err = s.unlockLocked()
	}
	if s.session != nil {
		s.endSession()
	}
	s.mu.Unlock()
	s.cancel()
	if cerr := s.client.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("close %s: %w", s.Path(), cerr))
	}
	return err
}

// ctx bounds one request.
func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, s.opts.Timeout)
}

// ErrUnreachable is what an UnreachableError unwraps to.
var ErrUnreachable = errors.New("etcd unreachable")

// UnreachableError is a request etcd did not answer in time.
type UnreachableError struct {
	Endpoints []string
	Timeout   time.Duration
	Err       error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("etcd at %s unreachable: no answer within %v: %v", strings.Join(e.Endpoints, ","), e.Timeout, e.Err)
}

func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// requestError says what failed; a request that got no answer (the
// deadline passed, or no endpoint could be reached) is an
// UnreachableError.
func (s *Store) requestError(ctx context.Context, what string, err error) error {
	code := status.Code(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || code == codes.Unavailable || code == codes.DeadlineExceeded {
		err = &UnreachableError{Endpoints: s.endpoints, Timeout: s.opts.Timeout, Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// damaged is a record or key the store cannot read.
func (s *Store) damaged(what string, err error) error {
	return fmt.Errorf("%w: %s: %s: %w", store.ErrDamaged, s.Path(), what, err)
}

// ConflictError is a change Apply refused because the state it was
// planned on changed; it unwraps to store.ErrConflict and, for a host
// port, to ports.ErrPortAllocated.
type ConflictError struct {
	What string
	Kind error // a more precise sentinel, or nil
}

func (e *ConflictError) Error() string { return e.What }

func (e *ConflictError) Unwrap() []error {
	if e.Kind == nil {
		return []error{store.ErrConflict}
	}
	return []error{store.ErrConflict, e.Kind}
}
