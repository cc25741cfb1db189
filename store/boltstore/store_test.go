package boltstore

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpfnet.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	n1, c1, e1 := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("e", 64)
	n := &model.Network{ID: n1, Name: "demo", Number: 2, Driver: model.DriverBridge,
		IPAM:   ipam.Config{Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1")},
		Labels: map[string]string{"a": "b"}, Settings: model.Settings{ICC: true, MTU: 1450}}
	c := &model.Container{ID: c1, Name: "web", Netns: "/run/netns/web", Endpoints: []*model.Endpoint{
		{ID: e1, NetworkID: n1, IP: netip.MustParseAddr("172.18.0.2"), Slot: 3, Ifname: "eth0"},
	}}
	if err := s.Apply(store.Change{PutNetworks: []*model.Network{n}, PutContainers: []*model.Container{c}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := st.Networks[n1]
	if got == nil || got.Name != "demo" || got.IPAM != n.IPAM || got.Labels["a"] != "b" || got.Settings.MTU != 1450 {
		t.Fatalf("network after reopen = %+v, want %+v", got, n)
	}
	gc := st.Containers[c1]
	if gc == nil || len(gc.Endpoints) != 1 || gc.Endpoints[0].IP != c.Endpoints[0].IP || gc.Endpoints[0].Slot != 3 {
		t.Fatalf("container after reopen = %+v", gc)
	}
	if used, err := s.UsedIPs(n1); err != nil || !slices.Contains(used, c.Endpoints[0].IP) {
		t.Errorf("address index: %v, %v", used, err)
	}
	if slot, ok, err := s.FreeSlot(1, 10); err != nil || !ok || slot != 1 {
		t.Errorf("free slot: %d, %v, %v; want 1 (3 is taken)", slot, ok, err)
	}
	if err := s.Apply(store.Change{DeleteContainers: []string{c1}, DeleteNetworks: []string{n1}}); err != nil {
		t.Fatal(err)
	}
	if used, _ := s.UsedIPs(n1); len(used) != 0 {
		t.Errorf("address index after delete: %v", used)
	}
	if _, ok, _ := s.ContainerID("web"); ok {
		t.Error("name index still has web after delete")
	}
	if st, _ = s.LoadAll(); len(st.Networks)+len(st.Containers) != 0 {
		t.Fatalf("after delete: %d networks, %d containers", len(st.Networks), len(st.Containers))
	}
}

func TestStoreRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpfnet.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, []byte("99"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "store schema 99") {
		t.Fatalf("openStore of schema 99: %v", err)
	}
}
