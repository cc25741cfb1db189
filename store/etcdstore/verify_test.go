package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/model"
	"github.com/bpfnet/bpfnet/store"
)

// Verify finds each kind of damage, written behind the store's back, and
// the reads of a damaged record say so.
func TestVerifyFindsDamage(t *testing.T) {
	te := startEtcd(t)
	web, net1 := id("c1"), id("a1")
	for _, tc := range []struct {
		name, key, value string // value "" deletes key
		want             string
	}{
		{"a record that does not decode", "containers/" + web, "{not json", "container record"},
		{"a record under another ID", "containers/" + web, `{"ID":"` + id("c9") + `","Name":"web"}`, "invalid ID"},
		{"a missing address entry", "ips/" + net1 + "/172.018.000.002", "", "is missing"},
		{"a stale slot entry", "slots/0000000099", web, "belongs to no record"},
		{"a name naming another container", "container-names/web", id("c9"), "names c90000000000"},
		{"a network name entry missing", "network-names/n1", "", "is missing"},
		{"a host binding with no publication", "ports/udp/09090/000.000.000.000", web, "belongs to no record"},
		{"a publication with no host binding", "ports/tcp/08080/000.000.000.000", "", "is missing"},
		{"a publication under another binding", "published/" + web + "/tcp/08080/000.000.000.000", "0.0.0.0:8081:80/tcp", "the mapping of another binding"},
		{"an unknown key", "garbage", "x", "unknown key garbage"},
		{"the schema key missing", "store/schema", "", "schema key is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := te.open(t, Options{})
			defer s.Close()
			mustApply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", "172.18.0.0/16")},
				PutContainers: []*model.Container{container(web, "web", net1, "172.18.0.2", 1)},
				AddPorts:      map[string][]ports.Mapping{web: {{HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Proto: ports.TCP}}}})
			if err := s.Verify(); err != nil {
				t.Fatalf("Verify of a sound store: %v", err)
			}
			var err error
			if tc.value == "" {
				_, err = s.client.Delete(context.Background(), s.prefix+tc.key)
			} else {
				_, err = s.client.Put(context.Background(), s.prefix+tc.key, tc.value)
			}
			if err != nil {
				t.Fatal(err)
			}
			err = s.Verify()
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v, want store.ErrDamaged saying %q", err, tc.want)
			}
		})
	}
}

func TestDamagedRecordRead(t *testing.T) {
	te := startEtcd(t)
	s := te.open(t, Options{})
	defer s.Close()
	web := id("c1")
	if _, err := s.client.Put(context.Background(), s.containerKey(web), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Container(web); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), web) {
		t.Errorf("Container of a damaged record = %v, want store.ErrDamaged naming it", err)
	}
	if _, err := s.Containers(); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("Containers with a damaged record = %v, want store.ErrDamaged", err)
	}
	if err := s.Apply(store.Change{DeleteContainers: []string{web}}); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("Apply over a damaged record = %v, want store.ErrDamaged", err)
	}
}

// What an index entry names is one record's across the cluster: a change
// giving it to another record is a conflict, and writes nothing.
func TestIndexEntriesAreUnique(t *testing.T) {
	te := startEtcd(t)
	s := te.open(t, Options{})
	defer s.Close()
	net1 := id("a1")
	mustApply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", "172.18.0.0/16")},
		PutContainers: []*model.Container{container(id("c1"), "web", net1, "172.18.0.2", 1)}})
	for what, ch := range map[string]store.Change{
		`the container name "web"`: puts(container(id("c2"), "web", net1, "172.18.0.3", 2)),
		"address 172.18.0.2":       puts(container(id("c2"), "api", net1, "172.18.0.2", 2)),
		"endpoint slot 1":          puts(container(id("c2"), "api", net1, "172.18.0.3", 1)),
		`the network name "n1"`:    {PutNetworks: []*model.Network{network(id("a2"), "n1", "172.19.0.0/16")}},
		"port is already allocated": {AddPorts: map[string][]ports.Mapping{id("c2"): {{HostPort: 80, HostPortEnd: 80, ContainerPort: 80, Proto: ports.TCP}}},
			PutContainers: []*model.Container{container(id("c1"), "web", net1, "172.18.0.2", 1)}},
	} {
		if what == "port is already allocated" {
			mustApply(t, s, store.Change{AddPorts: map[string][]ports.Mapping{id("c1"): {{HostPort: 80, HostPortEnd: 80, ContainerPort: 8080, Proto: ports.TCP}}}})
		}
		before := dump(t, s)
		err := s.Apply(ch)
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), what) {
			t.Errorf("giving %s to another: %v, want store.ErrConflict", what, err)
		}
		if what == "port is already allocated" && !errors.Is(err, ports.ErrPortAllocated) {
			t.Errorf("a host port held by another: %v, want ports.ErrPortAllocated", err)
		}
		if after := dump(t, s); len(after) != len(before) {
			t.Errorf("giving %s to another wrote %d keys", what, len(after)-len(before))
		}
	}
}

// A change too big for one etcd transaction fails whole, and says why.
func TestChangeTooBig(t *testing.T) {
	te := startEtcd(t)
	s := te.open(t, Options{})
	defer s.Close()
	net1 := id("a1")
	mustApply(t, s, store.Change{PutNetworks: []*model.Network{network(net1, "n1", "172.18.0.0/16")}})
	var ids []string
	for i := range 40 {
		c := container(id(fmt.Sprintf("c%03d", i)), fmt.Sprintf("c%d", i), net1, fmt.Sprintf("172.18.1.%d", i), uint32(i+1))
		mustApply(t, s, puts(c))
		ids = append(ids, c.ID)
	}
	err := s.Apply(store.Change{DeleteContainers: ids}) // 160 keys to delete
	if err == nil || !strings.Contains(err.Error(), "--max-txn-ops") {
		t.Fatalf("Apply of a change of 160 writes = %v, want etcd's limit named", err)
	}
	if all, err := s.Containers(); err != nil || len(all) != 40 {
		t.Errorf("after the refused change: %d containers, %v", len(all), err)
	}
}
