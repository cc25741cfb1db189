package ctltest

import "github.com/bpfnet/bpfnet/store"

// Store wraps a store so that its writes are calls of k ("StoreApply",
// "StorePutMeta"): a fault can fail one, or crash right after it.
func (k *Kernel) Store(s store.Store) store.Store { return faultyStore{s, k} }

type faultyStore struct {
	store.Store
	k *Kernel
}

func (s faultyStore) Apply(ch store.Change) error {
	done, err := s.k.change("StoreApply")
	if err != nil {
		return err
	}
	if err := s.Store.Apply(ch); err != nil {
		return err
	}
	done()
	return nil
}

func (s faultyStore) PutMeta(key, value string) error {
	done, err := s.k.change("StorePutMeta", key)
	if err != nil {
		return err
	}
	if err := s.Store.PutMeta(key, value); err != nil {
		return err
	}
	done()
	return nil
}
