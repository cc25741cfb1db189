package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// hangAfter bounds a command on a damaged store: a hang is a failure too,
// and must not cost the CLI's full timeout per case.
var hangAfter = tu.Scale(15 * time.Second)

// storeDamage is one way to damage the store file.
type storeDamage struct {
	name  string
	apply func(pristine []byte) []byte
}

// storeDamages are truncations at page boundaries and around them, both
// meta pages overwritten, and random bytes at random offsets (seeded) of
// the pages in use (used): damage to a free page is no test.
func storeDamages(size int, used []int, seed uint64) []storeDamage {
	var ds []storeDamage
	page := os.Getpagesize()
	var lengths []int
	for _, n := range []int{1, 100, page - 1, page, 2*page - 1, 2 * page, 3 * page, 4 * page, size / 2, size - page, size - 1} {
		if n > 0 && n < size && !slices.Contains(lengths, n) {
			lengths = append(lengths, n)
		}
	}
	for _, n := range lengths {
		ds = append(ds, storeDamage{fmt.Sprintf("truncated to %d bytes", n), func(b []byte) []byte { return b[:n] }})
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	scribble := func(b []byte, off, n int) {
		for i := off; i < off+n && i < len(b); i++ {
			b[i] = byte(rng.UintN(256))
		}
	}
	for _, meta := range []struct {
		name string
		offs []int
	}{{"meta page 0", []int{0}}, {"meta page 1", []int{page}}, {"both meta pages", []int{0, page}}} {
		ds = append(ds, storeDamage{meta.name + " overwritten", func(b []byte) []byte {
			for _, off := range meta.offs {
				scribble(b, off+16, 64) // past the page header: magic, version, root, freelist, txid
			}
			return b
		}})
	}
	for i := 0; i < 16; i++ {
		writes := 1 + rng.IntN(8)
		var offs []int
		for range writes {
			offs = append(offs, used[rng.IntN(len(used))]*page+rng.IntN(page))
		}
		ds = append(ds, storeDamage{fmt.Sprintf("random bytes at offsets %v", offs), func(b []byte) []byte {
			for _, off := range offs {
				scribble(b, off, 1+rng.IntN(64))
			}
			return b
		}})
	}
	return ds
}

// TestStoreDamage: on a store truncated or with random bytes written into
// it, every command works (the damage hit unused space) or exits 1 naming
// the store: never a panic or a runtime crash (a truncated mmap faults),
// never a hang, never a silent fresh start (when `network ls` works, the
// user's network is listed). After the good store is back, `system
// repair` rebuilds what the commands on the damaged one did (issue 9,
// contract C7).
func TestStoreDamage(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "tc")
	lan := tu.NewLAN(t, in)
	in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
	in.MustRun("container", "create", "web", "--network", "app", "-p", "8000:80")
	db := filepath.Join(in.Root, "bpfnet.db")
	pristine, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	seed := crashSeed(t)
	used := pagesInUse(t, db)
	t.Logf("store of %d bytes, pages in use %v; seed %d (BPFNET_CRASH_SEED replays it)", len(pristine), used, seed)
	if len(pristine)%os.Getpagesize() != 0 {
		t.Fatalf("store of %d bytes: not whole pages of %d bytes, as bbolt writes them", len(pristine), os.Getpagesize())
	}

	commands := [][]string{
		{"network", "ls"}, {"container", "ls"}, {"network", "inspect", "app"}, {"container", "inspect", "web"},
		{"port", "web"}, {"stats"}, {"conntrack", "ls"}, {"system", "check"},
		{"network", "rm", "nosuch"}, {"network", "create", "--subnet", "10.66.0.0/24", "dmg"},
	}
	for _, d := range storeDamages(len(pristine), used, seed) {
		if err := os.WriteFile(db, d.apply(slices.Clone(pristine)), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range commands {
			where := fmt.Sprintf("store %s: bpfnet %s", d.name, strings.Join(args, " "))
			r, hung := in.RunKilledAfter(hangAfter, args...)
			if hung {
				t.Errorf("%s: no answer within %v: %s", where, hangAfter, brief(r))
				continue
			}
			if !noPanic(t, r, where) {
				continue
			}
			switch {
			case r.Code == 0:
				verb := strings.Join(args[:min(2, len(args))], " ")
				if verb == "network ls" && !strings.Contains(r.Stdout, "app") {
					t.Errorf("%s: works but lists no network app (a silent fresh start): %s", where, brief(r))
				}
				if verb == "network create" { // it worked: take it back while the store is as damaged
					in.Run("network", "rm", "dmg")
				}
			case r.Code == 1 && strings.Contains(r.Stderr, "nosuch not found"):
			case r.Code == 1 && strings.Contains(r.Stderr, "No such container: web"):
				t.Errorf("%s: the store silently lost container web (read an older transaction?): %s", where, brief(r))
			case r.Code != 1 || !(strings.Contains(r.Stderr, "store") || strings.Contains(r.Stderr, "bpfnet.db")):
				t.Errorf("%s: want exit 0, or exit 1 with an error naming the store; got %s", where, brief(r))
			}
		}
		// The good store back: repair rebuilds the kernel it describes.
		if err := os.WriteFile(db, pristine, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := in.Run("system", "repair"); r.Code != 0 {
			t.Errorf("store %s, then the good store back: system repair: %v", d.name, r)
		}
		if r := in.Run("system", "check"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
			t.Errorf("store %s, then the good store back and repaired: system check: %v", d.name, r)
		}
	}
	checkConsistent(t, in, lan, []int{8000, 8001}, "after every damage and the good store back")
}

// TestStoreLost: a missing or empty (0 bytes) store while the instance's
// bpffs still holds its pins is an error that says so and how to recover,
// for every command, never a silent fresh start; `system repair` restores
// the backup the store keeps (ROOT/bpfnet.db.bak), after which networks,
// containers and published ports are back and the LAN reaches the port
// (issue 9, contract C7).
func TestStoreLost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		lose func(db string) error
	}{
		{"missing", os.Remove},
		{"empty", func(db string) error { return os.Truncate(db, 0) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := tu.NewInstance(t, "tc")
			lan := tu.NewLAN(t, in)
			in.MustRun("network", "create", "--subnet", "10.77.0.0/24", "app")
			in.MustRun("container", "create", "web", "--network", "app", "-p", "8000:80")
			db := filepath.Join(in.Root, "bpfnet.db")
			if _, err := os.Stat(db + ".bak"); err != nil {
				t.Errorf("the store keeps no backup after a commit: %v", err)
			}
			if err := c.lose(db); err != nil {
				t.Fatal(err)
			}

			for _, args := range [][]string{
				{"network", "ls"}, {"container", "ls"}, {"port", "web"}, {"system", "check"},
				{"network", "create", "x"}, {"container", "create", "y", "--network", "app"},
			} {
				r := in.Run(args...)
				if !noPanic(t, r, "store "+c.name) {
					continue
				}
				if r.Code != 1 || !strings.Contains(r.Stderr, "store") || !strings.Contains(r.Stderr, "system repair") {
					t.Errorf("store %s, pins present: want exit 1 with an error naming the store and 'system repair'; got %s", c.name, brief(r))
				}
			}

			if r := in.Run("system", "repair"); r.Code != 0 {
				t.Fatalf("store %s: system repair: %v", c.name, r)
			}
			if got := in.Names("network"); !slices.Contains(got, "app") {
				t.Errorf("after repair: networks %v, want app among them", got)
			}
			if got := in.Names("container"); !slices.Contains(got, "web") && !slices.Contains(got, "/web") {
				t.Errorf("after repair: containers %v, want web among them", got)
			}
			if got := strings.TrimSpace(in.MustRun("port", "web")); got != "80/tcp -> 0.0.0.0:8000" {
				t.Errorf("after repair: port web = %q, want 80/tcp -> 0.0.0.0:8000", got)
			}
			checkConsistent(t, in, lan, []int{8000}, "store "+c.name+", repaired")
		})
	}
}

// pagesInUse lists the pages of the bbolt file at path that its current
// meta page reaches (meta, freelist, branch and leaf pages, with their
// overflow), read with bbolt itself from a copy.
func pagesInUse(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatalf("open a copy of the store with bbolt: %v", err)
	}
	defer db.Close()
	var used []int
	err = db.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type != "free" {
				for i := 0; i <= info.OverflowCount; i++ {
					used = append(used, id+i)
				}
			}
		}
	})
	if err != nil || len(used) == 0 {
		t.Fatalf("pages of the store in use: %v, %v", used, err)
	}
	return used
}
