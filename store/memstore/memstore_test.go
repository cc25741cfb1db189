package memstore

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// Reads while another goroutine applies changes: the maps are guarded (run
// with -race, or the runtime's own check of concurrent map writes), and
// every read sees a whole change: a container and its port together.
func TestConcurrentReadsAndApply(t *testing.T) {
	s := New()
	const n = 200
	id := func(i int) string { return fmt.Sprintf("%064x", i+1) }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			m := ports.Mapping{HostPort: uint16(10000 + i), HostPortEnd: uint16(10000 + i), ContainerPort: 80, Proto: ports.TCP}
			err := s.Apply(store.Change{PutContainers: []*model.Container{{ID: id(i), Name: fmt.Sprint("c", i)}},
				AddPorts: map[string][]ports.Mapping{id(i): {m}}})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				all, err := s.Containers()
				if err != nil {
					t.Error(err)
					return
				}
				// Containers are only added: each one read has its port.
				for cid := range all {
					if has, err := s.HasPorts(cid); err != nil || !has {
						t.Errorf("container %.8s read without its port (%v)", cid, err)
						return
					}
				}
				_ = s.WithPortIndex(func(held ports.Held) error {
					held.Holds(netip.Addr{}, 10000, ports.TCP)
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if all, err := s.Containers(); err != nil || len(all) != n {
		t.Fatalf("%d containers after %d changes (%v)", len(all), n, err)
	}
}
