package etcdstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// With etcd gone, every method fails within a bound, with an error that
// names the endpoints and says they did not answer.
func TestUnreachable(t *testing.T) {
	te := startEtcd(t)
	const timeout = 250 * time.Millisecond
	s := te.open(t, Options{Timeout: timeout})
	holder := te.open(t, Options{Timeout: timeout})
	defer holder.Close()
	net1 := network(id("a1"), "n1", "172.18.0.0/16")
	mustApply(t, s, store.Change{PutNetworks: []*model.Network{net1}})
	if err := holder.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The lease's keep-alive stream would hold etcd's graceful stop for its
	// request timeout (7 s): end it; the lease and the lock stay for the TTL.
	holder.client.Lease.Close()
	te.stop()

	want := "etcd at " + te.endpoint + " unreachable"
	check := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s = %v, want %q", what, err, want)
		}
		// Not a speed goal: a bound that shows the call did not hang.
		if took > timeout+2500*time.Millisecond {
			t.Errorf("%s took %v with a timeout of %v", what, took, timeout)
		}
	}
	web := id("c1")
	check("Load", func() error { _, err := s.Load(); return err })
	check("Containers", func() error { _, err := s.Containers(); return err })
	check("Container", func() error { _, err := s.Container(web); return err })
	check("ContainerID", func() error { _, _, err := s.ContainerID("web"); return err })
	check("HasContainers", func() error { _, err := s.HasContainers(); return err })
	check("UsedIPs", func() error { _, err := s.UsedIPs(net1.ID); return err })
	check("NetworkContainers", func() error { _, err := s.NetworkContainers(net1.ID); return err })
	check("FreeSlot", func() error { _, _, err := s.FreeSlot(1, 100); return err })
	check("Ports", func() error { _, err := s.Ports(web); return err })
	check("HasPorts", func() error { _, err := s.HasPorts(web); return err })
	check("WithPortIndex", func() error { return s.WithPortIndex(func(ports.Held) error { return nil }) })
	check("Apply", func() error { return s.Apply(puts(container(web, "web", net1.ID, "172.18.0.2", 1))) })
	check("Meta", func() error { _, err := s.Meta("datapath"); return err })
	check("PutMeta", func() error { return s.PutMeta("datapath", "v2") })
	check("Verify", s.Verify)
	check("Lock", func() error { return s.Lock(context.Background()) })
	check("Unlock", holder.Unlock)
	check("Open", func() error {
		s, err := Open(context.Background(), []string{te.endpoint}, "/other/", Options{Timeout: timeout})
		if err == nil {
			s.Close()
		}
		return err
	})
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close of a store holding no lock: %v", err)
	}
	if took := time.Since(start); took > timeout+2500*time.Millisecond {
		t.Errorf("Close took %v with a timeout of %v", took, timeout)
	}
}
