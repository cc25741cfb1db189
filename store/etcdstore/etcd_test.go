package etcdstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// testEtcd is a real etcd server in the test binary, on loopback ports
// that were free, with its data in a test directory.
type testEtcd struct {
	e        *embed.Etcd
	endpoint string // host:port of its client URL
}

// startEtcd starts one member and stops it when t ends.
func startEtcd(t testing.TB) *testEtcd {
	t.Helper()
	var lastErr error
	for range 3 { // a port found free may be taken before etcd binds it
		client, peer := freePort(t), freePort(t)
		cfg := embed.NewConfig()
		cfg.Dir = t.TempDir()
		cfg.Name = "test"
		cfg.LogLevel = "error"
		cfg.ListenClientUrls = []url.URL{{Scheme: "http", Host: client}}
		cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		cfg.ListenPeerUrls = []url.URL{{Scheme: "http", Host: peer}}
		cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
		cfg.InitialCluster = fmt.Sprintf("%s=http://%s", cfg.Name, peer)
		cfg.ListenMetricsUrls = nil
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(e.Close) // after the data directory's removal is registered: runs first
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			t.Fatal("etcd did not become ready in 30 s")
		}
		return &testEtcd{e: e, endpoint: client}
	}
	t.Fatalf("start etcd: %v", lastErr)
	return nil
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var prefixes atomic.Int64

// open opens a store on a prefix of its own, closed when t ends.
func (te *testEtcd) open(t testing.TB, opts Options) *Store {
	t.Helper()
	return te.openAt(t, fmt.Sprintf("/test/%d/", prefixes.Add(1)), opts)
}

func (te *testEtcd) openAt(t testing.TB, prefix string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), []string{te.endpoint}, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
