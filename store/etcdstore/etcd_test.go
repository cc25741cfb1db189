package etcdstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// testEtcd is a real etcd server in the test binary, on loopback ports
// that were free, with its data in a test directory.
type testEtcd struct {
	e        *embed.Etcd
	endpoint string // host:port of its client URL
	stopOnce sync.Once
}

// stop stops the server (once: the test's end stops it too).
func (te *testEtcd) stop() { te.stopOnce.Do(te.e.Close) }

// startEtcd starts one member and stops it when t ends.
func startEtcd(t testing.TB) *testEtcd {
	t.Helper()
	var lastErr error
	for range 3 { // a port found free may be taken before etcd binds it
		client, peer := freePort(t), freePort(t)
		cfg := embed.NewConfig()
		cfg.Dir = t.TempDir()
		cfg.Name = "test"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // its shutdown logs errors; failures reach the client
		cfg.ListenClientUrls = []url.URL{{Scheme: "http", Host: client}}
		cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		// HTTP on a port of its own: etcd's stop waits for a shared port's
		// connections to go idle, which a client's never do (7 s).
		cfg.ListenClientHttpUrls = []url.URL{{Scheme: "http", Host: freePort(t)}}
		cfg.ListenPeerUrls = []url.URL{{Scheme: "http", Host: peer}}
		cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
		cfg.InitialCluster = fmt.Sprintf("%s=http://%s", cfg.Name, peer)
		cfg.ListenMetricsUrls = nil
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			continue
		}
		te := &testEtcd{e: e, endpoint: client}
		t.Cleanup(te.stop) // after the data directory's removal is registered: runs first
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			t.Fatal("etcd did not become ready in 30 s")
		}
		return te
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
