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
	storetest.Run(t, open,
		// removePorts deletes the hostports entry of a binding whatever
		// container holds it: the holder keeps it in container_ports, the
		// index says it is free, and a third container is given it.
		"RemovePortsOfAnother",
		// addPorts creates the container's bucket before looking at the
		// mappings: adding none makes HasPorts true with no port.
		"AddNoPorts",
		// PutMeta writes the bucket that also holds the schema, the
		// generation and the record counts: PutMeta("networks", ...) makes
		// Load report damage, PutMeta("generation", ...) moves the commit count.
		"MetaKeysApart")
}
