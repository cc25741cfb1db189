package memstore

import (
	"testing"

	"github.com/bpfnet/bpfnet/store"
	"github.com/bpfnet/bpfnet/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return New() })
}
