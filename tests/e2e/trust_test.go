package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// nobody is a uid and gid that is not root's.
const nobody = 65534

// TestUntrustedRoot: a root directory or store that another user owns, or
// that group or others may write, is refused with a clear error, as sshd's
// StrictModes refuses a careless home (issue 9, contract C10).
func TestUntrustedRoot(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "tc")
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	db := filepath.Join(in.Root, "bpfnet.db")
	for _, c := range []struct {
		what          string
		spoil, repair func() error
	}{
		{"root owned by another user", func() error { return os.Chown(in.Root, nobody, nobody) }, func() error { return os.Chown(in.Root, 0, 0) }},
		{"root writable by others", func() error { return os.Chmod(in.Root, 0o777) }, func() error { return os.Chmod(in.Root, 0o700) }},
		{"root writable by its group", func() error { return os.Chmod(in.Root, 0o770) }, func() error { return os.Chmod(in.Root, 0o700) }},
		{"store owned by another user", func() error { return os.Chown(db, nobody, nobody) }, func() error { return os.Chown(db, 0, 0) }},
		{"store writable by others", func() error { return os.Chmod(db, 0o606) }, func() error { return os.Chmod(db, 0o600) }},
		{"store writable by its group", func() error { return os.Chmod(db, 0o660) }, func() error { return os.Chmod(db, 0o600) }},
	} {
		if err := c.spoil(); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"network", "ls"}, {"network", "create", "x"}} {
			r := in.Run(args...)
			switch {
			case !noPanic(t, r, c.what):
			case r.Code == 0:
				t.Errorf("%s: bpfnet %s trusted it (exit 0); want exit 1 with an error that says it is refusing", c.what, strings.Join(args, " "))
			case r.Code != 1 || !strings.Contains(r.Stderr, "refusing"):
				t.Errorf("%s: want exit 1 with an error that says it is refusing; got %s", c.what, brief(r))
			}
			if r.Code == 0 && args[1] == "create" {
				in.Run("network", "rm", "x")
			}
		}
		if err := c.repair(); err != nil {
			t.Fatal(err)
		}
		if r := in.Run("network", "ls"); r.Code != 0 {
			t.Fatalf("%s, then put right: network ls: %s", c.what, brief(r))
		}
	}
}

// TestPlantedNetnsPath: a store whose container records name namespace
// paths outside the instance's namespace directory (a root-owned file, a
// namespace the instance did not make) never makes `container rm` or
// `system reset` delete or unmount them; the commands report the bad path
// (issue 9, contract C10).
func TestPlantedNetnsPath(t *testing.T) {
	t.Parallel()
	// Made before the instance, so they outlive its cleanup's reset.
	victims := t.TempDir()
	victimFile := filepath.Join(victims, "precious")
	if err := os.WriteFile(victimFile, []byte("root's own file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	victimNetns := tu.NewNetns(t, victims, "someones-netns", nil)

	in := tu.NewInstance(t, "tc")
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "c1", "--network", "app")
	in.MustRun("container", "create", "c2", "--network", "app")
	db := filepath.Join(in.Root, "bpfnet.db")
	plantNetns(t, db, map[string]string{"c1": victimFile, "c2": victimNetns})
	planted, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	// Each command is judged alone: a victim it destroyed is made again.
	victimsIntact := func(where string) {
		t.Helper()
		if b, err := os.ReadFile(victimFile); err != nil || string(b) != "root's own file\n" {
			t.Errorf("%s: the planted path %s was removed or changed: %q, %v", where, victimFile, b, err)
			if err := os.WriteFile(victimFile, []byte("root's own file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if mounts, _ := tu.MountsBelow(victims); !slices.Contains(mounts, victimNetns) {
			t.Errorf("%s: the planted namespace %s was unmounted (mounts below %s: %v)", where, victimNetns, victims, mounts)
			if err := tu.DeleteNetns(victimNetns); err != nil {
				t.Fatal(err)
			}
			if err := tu.CreateNetns(victimNetns, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"c1", "c2"} {
		r := in.Run("container", "rm", name)
		if noPanic(t, r, "container rm "+name) && !strings.Contains(r.Stderr, "outside") {
			t.Errorf("container rm %s, whose planted namespace path lies outside the instance: want an error that says so; got %s", name, brief(r))
		}
		victimsIntact("container rm " + name)
	}

	if err := os.WriteFile(db, planted, 0o600); err != nil {
		t.Fatal(err)
	}
	r := in.Run("system", "reset", "-f")
	if noPanic(t, r, "system reset") && !strings.Contains(r.Stderr, "outside") {
		t.Errorf("system reset of a store with planted namespace paths: want an error that names them; got %s", brief(r))
	}
	victimsIntact("system reset")

	// Whatever is left of the store points at the instance's own
	// namespaces again, so that the cleanup's reset may finish.
	if _, err := os.Stat(db); err == nil {
		netnsDir := filepath.Join(in.Root, "netns")
		rewriteNetns(t, db, map[string]string{"c1": filepath.Join(netnsDir, "c1"), "c2": filepath.Join(netnsDir, "c2")})
	}
}

// plantNetns rewrites, with bbolt directly, the Netns field of the named
// containers' records in the store at db; every other field stays.
func plantNetns(t *testing.T, db string, paths map[string]string) {
	t.Helper()
	if n := rewriteNetns(t, db, paths); n != len(paths) {
		t.Fatalf("plant namespace paths: found %d of the containers %v in the store", n, paths)
	}
}

// rewriteNetns is plantNetns for those of the containers the store holds;
// it returns how many it found.
func rewriteNetns(t *testing.T, db string, paths map[string]string) int {
	t.Helper()
	store, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	found := 0
	err = store.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("containers"))
		if b == nil {
			return fmt.Errorf("no bucket containers")
		}
		todo := map[string][]byte{}
		err := b.ForEach(func(k, v []byte) error {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("container record %s: %w", k, err)
			}
			var name string
			_ = json.Unmarshal(rec["Name"], &name)
			path, ok := paths[name]
			if !ok {
				return nil
			}
			if _, ok := rec["Netns"]; !ok {
				return fmt.Errorf("container record %s has no Netns field: %s", k, v)
			}
			rec["Netns"], _ = json.Marshal(path)
			out, err := json.Marshal(rec)
			todo[string(k)] = out
			return err
		})
		if err != nil {
			return err
		}
		found = len(todo)
		for k, v := range todo {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("rewrite namespace paths in %s: %v", db, err)
	}
	return found
}
