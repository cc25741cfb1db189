package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/bpfnet/bpfnet/store"
	"github.com/bpfnet/bpfnet/store/storetest"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "bpfnet.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, open)
}
