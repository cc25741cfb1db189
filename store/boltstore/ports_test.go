package boltstore

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/store"
)

func mapping(ip string, host, ctr uint16, proto ports.Proto) ports.Mapping {
	m := ports.Mapping{HostPort: host, HostPortEnd: host, ContainerPort: ctr, Proto: proto}
	if ip != "" {
		m.HostIP = netip.MustParseAddr(ip)
	}
	return m
}

func testStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "bpfnet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPorts(t *testing.T, s *Store, id string) []ports.Mapping {
	t.Helper()
	ms, err := s.Ports(id)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// The index answers the allocator as a list of every mapping would, and
// follows additions, removals and container deletion.
func TestPortIndex(t *testing.T) {
	s := testStore(t)
	web := []ports.Mapping{mapping("", 8080, 80, ports.TCP), mapping("127.0.0.1", 9090, 90, ports.UDP), mapping("", 40002, 81, ports.TCP)}
	api := []ports.Mapping{mapping("192.0.2.1", 8080, 80, ports.UDP), mapping("192.0.2.1", 40004, 80, ports.TCP)}
	if err := s.Apply(store.Change{AddPorts: map[string][]ports.Mapping{"web": web, "api": api}}); err != nil {
		t.Fatal(err)
	}
	list := ports.Mappings(append(append([]ports.Mapping{}, web...), api...))
	addrs := []netip.Addr{{}, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")}
	err := s.WithPortIndex(func(held ports.Held) error {
		for _, proto := range []ports.Proto{ports.TCP, ports.UDP} {
			for _, ip := range addrs {
				for _, port := range []uint16{80, 8080, 9090, 40002, 40004, 65535} {
					if got, want := held.Holds(ip, port, proto), list.Holds(ip, port, proto); got != want {
						t.Errorf("Holds(%v, %d, %s) = %v, want %v", ip, port, proto, got, want)
					}
				}
				for _, r := range [][2]uint16{{40000, 40003}, {40000, 40010}, {40003, 65535}, {1, 8080}, {50000, 60000}} {
					if got, want := held.Highest(ip, proto, r[0], r[1]), list.Highest(ip, proto, r[0], r[1]); got != want {
						t.Errorf("Highest(%v, %s, %d-%d) = %d, want %d", ip, proto, r[0], r[1], got, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustPorts(t, s, "web"); len(got) != 3 {
		t.Errorf("Ports(web) = %v, want its 3", got)
	}

	if err := s.Apply(store.Change{RemovePorts: map[string][]ports.Mapping{"web": web[:1]}}); err != nil {
		t.Fatal(err)
	}
	if got := mustPorts(t, s, "web"); !reflect.DeepEqual(got, []ports.Mapping{web[2], web[1]}) {
		t.Errorf("Ports(web) after removing 8080 = %v", got)
	}
	if err := s.WithPortIndex(func(held ports.Held) error {
		if held.Holds(netip.Addr{}, 8080, ports.TCP) {
			t.Errorf("8080/tcp still held after its removal")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(store.Change{AddPorts: map[string][]ports.Mapping{"web": {mapping("192.0.2.1", 40004, 1, ports.TCP)}}}); err == nil {
		t.Errorf("a binding api holds was given to web too")
	}

	if err := s.Apply(store.Change{DeleteContainers: []string{"api"}}); err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasPorts("api"); err != nil || has {
		t.Errorf("api has ports after its deletion (%v)", err)
	}
	if err := s.Apply(store.Change{RemovePorts: map[string][]ports.Mapping{"web": web[1:]}}); err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasPorts("web"); err != nil || has {
		t.Errorf("web has ports after removing them all (%v)", err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketHostPorts).Cursor().First(); k != nil {
			t.Errorf("hostports still holds %x with no mapping left", k)
		}
		return nil
	})
}

// A schema 2 store, where container records held their ports, opens with
// the ports moved to the index and the records without them.
func TestStoreUpgradesSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpfnet.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1 := strings.Repeat("c1", 32)
	old := map[string]any{"ID": c1, "Name": "web", "Ports": []string{"0.0.0.0:8080:80/tcp", "127.0.0.1:9090:90/udp"}}
	record, _ := json.Marshal(old)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketNetworks, bucketContainers, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, []byte("2")); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Put([]byte(c1), record)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []ports.Mapping{mapping("", 8080, 80, ports.TCP), mapping("127.0.0.1", 9090, 90, ports.UDP)}
	if got := mustPorts(t, s, c1); !reflect.DeepEqual(got, want) {
		t.Errorf("ports after upgrade = %v, want %v", got, want)
	}
	st, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Containers[c1]; c == nil || c.Name != "web" {
		t.Errorf("container after upgrade = %+v", c)
	}
	if id, ok, err := s.ContainerID("web"); err != nil || !ok || id != c1 {
		t.Errorf("the upgrade did not index the name: %q, %v, %v", id, ok, err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(tx.Bucket(bucketContainers).Get([]byte(c1)), &fields); err != nil {
			t.Fatalf("container record after upgrade: %v", err)
		}
		if _, ok := fields["Ports"]; ok {
			t.Errorf("the container record still has Ports: %s", tx.Bucket(bucketContainers).Get([]byte(c1)))
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); string(v) != schemaVersion {
			t.Errorf("schema after upgrade = %s", v)
		}
		return nil
	})
}

// Opening a current store writes nothing: a write transaction costs two
// fdatasyncs, which every command would pay.
func TestStoreOpenDoesNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpfnet.db")
	txid := func() int {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var id int
		_ = s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	first := txid()
	if again := txid(); again != first {
		t.Errorf("reopening the store committed %d transactions", again-first)
	}
}
