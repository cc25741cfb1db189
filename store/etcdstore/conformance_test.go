package etcdstore

import (
	"fmt"
	"testing"

	"github.com/bpfnet/bpfnet/store"
	"github.com/bpfnet/bpfnet/store/storetest"
)

// The suite runs against a real etcd, each case on a prefix of its own
// (the prefixes keep them apart as they keep clusters apart). Each case
// ends with a Verify: the indexes it left agree with its records.
func TestConformance(t *testing.T) {
	te := startEtcd(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return verifiedOnClose{te.open(t, Options{})}
	})
}

type verifiedOnClose struct{ *Store }

func (s verifiedOnClose) Close() error {
	if err := s.Verify(); err != nil {
		s.Store.Close()
		return fmt.Errorf("after the case: %w", err)
	}
	return s.Store.Close()
}
