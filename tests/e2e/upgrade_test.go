package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// TestUpgradeReloadsPrograms: when the store says the running programs
// came from another bpfnet (an upgrade), the next command replaces every
// one of them (container veths, uplink) in place, once; published ports
// keep working and counters go on.
func TestUpgradeReloadsPrograms(t *testing.T) {
	t.Parallel()
	tu.ForEachAttach(t, func(t *testing.T, in *tu.Instance) {
		t.Parallel()
		lan := tu.NewLAN(t, in)
		in.MustRun("network", "create", "pub")
		web := in.CreateContainer("web", "--network", "pub", "-p", "8080:80")
		tu.Serve(t, web.Netns(), "tcp", ":80")
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Fatalf("LAN -> 8080: %v", err)
		}
		veth := in.Stats("web", "pub").Endpoint.HostIfname
		before := map[string]map[string][]uint32{veth: in.AttachedPrograms(veth), "uplink": in.AttachedPrograms("uplink")}
		rxBefore := in.Stats("web", "pub").RxPackets

		// What an older bpfnet would have left: another datapath version.
		db, err := bolt.Open(filepath.Join(in.Root, "bpfnet.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("datapath"), []byte("0123456789abcdef"))
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}

		// Read-only commands change nothing; the first that changes something
		// replaces the programs.
		if r := in.Run("network", "ls"); r.Code != 0 || strings.Contains(r.Stderr, "replacing") {
			t.Fatalf("read-only command after the upgrade: %v; want no reload", r)
		}
		r := in.Run("network", "create", "other")
		if r.Code != 0 || !strings.Contains(r.Stderr, "replacing them") {
			t.Fatalf("first changing command after the upgrade: %v; want a notice that programs are replaced", r)
		}
		for dev, old := range before {
			now := in.AttachedPrograms(dev)
			if len(now) == 0 || len(now) != len(old) {
				t.Errorf("programs on %s: %v before, %v after", dev, old, now)
			}
			for hook, ids := range now {
				if slices.Equal(ids, old[hook]) {
					t.Errorf("%s %s still runs programs %v after the upgrade", dev, hook, ids)
				}
			}
		}
		if r := in.Run("network", "rm", "other"); strings.Contains(r.Stderr, "replacing") {
			t.Errorf("second command replaced the programs again: %v", r)
		}
		if err := tu.Echo(lan, "tcp", tu.LANHostIP+":8080", answerWithin); err != nil {
			t.Errorf("LAN -> 8080 after the reload: %v", err)
		}
		if rx := in.Stats("web", "pub").RxPackets; rx <= rxBefore {
			t.Errorf("web's received packets went from %d to %d: counters were reset or nothing got through", rxBefore, rx)
		}
	})
}
