package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/kernel"
	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// inputSnapshot is takeSnapshot plus what the input refusals could touch
// besides: the host's own addresses and links, and the conntrack table.
type inputSnapshot struct {
	snapshot
	HostAddrs []string // every IPv4 address of the host namespace
	HostLinks []string // every link of the host namespace
	CTEntries uint32   // the pinned conntrack table's size
}

func takeInputSnapshot(t *testing.T, in *tu.Instance) inputSnapshot {
	t.Helper()
	s := inputSnapshot{snapshot: takeSnapshot(t, in), HostLinks: in.HostLinks(), CTEntries: pinnedCTEntries(t, in)}
	h, err := kernel.Handle(in.HostNetns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		s.HostAddrs = append(s.HostAddrs, fmt.Sprintf("%s on %d", a.IPNet, a.LinkIndex))
	}
	sort.Strings(s.HostAddrs)
	return s
}

func pinnedCTEntries(t *testing.T, in *tu.Instance) uint32 {
	t.Helper()
	ct, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", "bpfnet_ct"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	return ct.MaxEntries()
}

// mustFailUnchanged runs a command that must be refused: exit 1, want in
// stderr, and the instance, the host and `system check` as before.
func mustFailUnchanged(t *testing.T, in *tu.Instance, want string, args ...string) {
	t.Helper()
	before := takeInputSnapshot(t, in)
	in.MustFail(want, args...)
	after := takeInputSnapshot(t, in)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("bpfnet %s changed the instance or the host:\nbefore %+v\nafter  %+v", strings.Join(args, " "), before, after)
	}
	if r := in.Run("system", "check"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("system check after bpfnet %s: %v", strings.Join(args, " "), r)
	}
}

// TestInputRefused: careless or hostile values are refused with words that
// say why, and change nothing: special-purpose and too small subnets, the
// LAN's own subnet, unusable gateways, unprintable network names, the
// host's or bpfnet's own namespace as --netns, a conntrack size out of
// bounds or other than the instance's.
func TestInputRefused(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	tu.NewLAN(t, in) // the host holds 192.0.2.1/24 on "uplink"
	in.MustRun("network", "create", "--subnet", "10.99.0.0/24", "usernet")
	in.CreateContainer("c1", "--network", "usernet")
	own := bindOwnNetns(t)

	cases := []struct {
		want string
		args []string
	}{
		{"invalid subnet 127.0.0.0/8: it overlaps 127.0.0.0/8 (loopback)", []string{"network", "create", "--subnet", "127.0.0.0/8", "lo"}},
		{"invalid subnet 127.42.0.0/16: it overlaps 127.0.0.0/8 (loopback)", []string{"network", "create", "--subnet", "127.42.0.0/16", "lo2"}},
		{"invalid subnet 224.0.0.0/4: it overlaps 224.0.0.0/4 (multicast)", []string{"network", "create", "--subnet", "224.0.0.0/4", "mc"}},
		{"invalid subnet 239.1.0.0/16: it overlaps 224.0.0.0/4 (multicast)", []string{"network", "create", "--subnet", "239.1.0.0/16", "mc2"}},
		{"invalid subnet 169.254.0.0/16: it overlaps 169.254.0.0/16 (link-local)", []string{"network", "create", "--subnet", "169.254.0.0/16", "ll"}},
		{`invalid subnet 0.0.0.0/8: it overlaps 0.0.0.0/8 ("this network")`, []string{"network", "create", "--subnet", "0.0.0.0/8", "zero"}},
		{"invalid subnet 0.0.0.0/0: it overlaps 0.0.0.0/8", []string{"network", "create", "--subnet", "0.0.0.0/0", "all"}},
		{"invalid subnet 240.0.0.0/4: it overlaps 240.0.0.0/4 (class E", []string{"network", "create", "--subnet", "240.0.0.0/4", "classe"}},
		{"invalid subnet 255.255.255.252/30: it overlaps 240.0.0.0/4", []string{"network", "create", "--subnet", "255.255.255.252/30", "bcast"}},
		{"invalid subnet 10.97.0.0/31: a bridge network needs a /30 or larger", []string{"network", "create", "--subnet", "10.97.0.0/31", "p2p"}},
		{"invalid subnet 10.97.0.0/31: a bridge network needs a /30 or larger", []string{"network", "create", "--subnet", "10.97.0.0/31", "--gateway", "10.97.0.1", "p2p"}},
		{"invalid subnet 10.97.0.5/32: a bridge network needs a /30 or larger", []string{"network", "create", "--subnet", "10.97.0.5/32", "one"}},
		{"invalid subnet 192.0.2.0/24: the host already holds 192.0.2.1 (on uplink)", []string{"network", "create", "--subnet", "192.0.2.0/24", "lan"}},
		{"invalid subnet 192.0.0.0/16: the host already holds 192.0.2.1 (on uplink)", []string{"network", "create", "--subnet", "192.0.0.0/16", "lan2"}},
		{"invalid subnet 192.0.2.0/30: the host already holds 192.0.2.1 (on uplink)", []string{"network", "create", "--subnet", "192.0.2.0/30", "lan3"}},
		{"failed to allocate gateway (10.96.0.0): Address already in use", []string{"network", "create", "--subnet", "10.96.0.0/24", "--gateway", "10.96.0.0", "gwnet"}},
		{"failed to allocate gateway (10.96.0.255): Address already in use", []string{"network", "create", "--subnet", "10.96.0.0/24", "--gateway", "10.96.0.255", "gwbcast"}},
		{"no matching subnet for range 10.95.0.0/24", []string{"network", "create", "--subnet", "10.96.0.0/24", "--ip-range", "10.95.0.0/24", "range"}},
		{"CIDR block is bigger than its parent subnet", []string{"network", "create", "--subnet", "10.96.0.0/24", "--ip-range", "10.96.0.0/23", "range2"}},
		{`invalid network name "evil\x1b]0;owned\a\x1b[2J": it holds U+001B`, []string{"network", "create", "evil\x1b]0;owned\x07\x1b[2J"}},
		{`invalid network name "a/b": it holds a '/'`, []string{"network", "create", "a/b"}},
		{`invalid network name "tab\there"`, []string{"network", "create", "tab\there"}},
		{"longer than 255 bytes (256)", []string{"network", "create", strings.Repeat("n", 256)}},
		{"invalid --netns " + in.HostNetns + ": it is the host's network namespace", []string{"container", "create", "hostns", "--network", "usernet", "--netns", in.HostNetns}},
		{"invalid --netns /proc/self/ns/net: it is the network namespace bpfnet runs in", []string{"container", "create", "selfns", "--network", "usernet", "--netns", "/proc/self/ns/net"}},
		{"invalid --netns " + own + ": it is the network namespace bpfnet runs in", []string{"container", "create", "selfns", "--network", "usernet", "--netns", own}},
		{"invalid --conntrack-entries 0: want 1024 to 16777216 (106.5 kB to 1.7 GB; 13.6 MB at the default 131072; 104 bytes per entry)", []string{"--conntrack-entries", "0", "network", "ls"}},
		{"invalid --conntrack-entries 100000000 (10.4 GB): want 1024 to 16777216", []string{"--conntrack-entries", "100000000", "network", "create", "big"}},
		{"invalid --conntrack-entries 4294967295 (446.7 GB)", []string{"--conntrack-entries", "4294967295", "network", "ls"}},
		{"invalid --conntrack-entries 4096: the instance's conntrack table", []string{"--conntrack-entries", "4096", "network", "create", "other"}},
		{"already holds 131072 entries (13.6 MB)", []string{"--conntrack-entries", "4096", "container", "create", "c2"}},
		{"'bpfnet system reset' (without --conntrack-entries)", []string{"--conntrack-entries", "1024", "network", "ls"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", strings.Join(c.args, " ")), func(t *testing.T) {
			mustFailUnchanged(t, in, c.want, c.args...)
		})
	}
	// The instance's own size, given again, is no difference; neither are
	// names that are odd but printable, nor a subnet next to the LAN's.
	in.MustRun("--conntrack-entries", "131072", "network", "ls")
	in.MustRun("network", "create", "réseau en été")
	in.MustRun("network", "create", "--subnet", "192.0.3.0/24", "nextdoor")
	in.MustRun("network", "create", "--subnet", "10.94.0.0/30", "tiny")
	in.CreateContainer("t1", "--network", "tiny")
}

// bindOwnNetns binds the namespace the test runs in, which the CLI it
// starts runs in too, to a file of its own: a path to it that the CLI does
// not reach through /proc/self.
func bindOwnNetns(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "own")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	// A locked thread keeps its namespace between the two calls; the
	// runtime keeps unlocked threads in the process's namespace.
	runtime.LockOSThread()
	err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tu.DeleteNetns(path) })
	return path
}

// TestConntrackEntriesLifecycle: on a fresh instance a refused size makes
// nothing (no root, no pins); a given size is the table's, costs what the
// help says per entry, and can be changed only by a reset.
func TestConntrackEntriesLifecycle(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	for _, v := range []string{"0", "1023", "16777217", "4294967295", "-1"} {
		in.MustFail("invalid --conntrack-entries "+v, "--conntrack-entries", v, "network", "ls")
		if _, err := os.Stat(in.Root); !os.IsNotExist(err) {
			t.Fatalf("--conntrack-entries %s made the root %s (%v)", v, in.Root, err)
		}
	}
	in.MustRun("--conntrack-entries", "8192", "network", "ls")
	if n := pinnedCTEntries(t, in); n != 8192 {
		t.Fatalf("conntrack table of %d entries, want 8192", n)
	}
	// Kernels before 6.4 report only keys and values as a map's memlock.
	if per := conntrackBytesPerEntry(t, in); !kernelAtLeast(6, 4) {
		t.Logf("kernel before 6.4: fdinfo says %.1f bytes per conntrack entry, without the kernel's overhead", per)
	} else if per < ctl.ConntrackEntryBytes*0.9 || per > ctl.ConntrackEntryBytes*1.1 {
		t.Errorf("the kernel charges %.1f bytes per conntrack entry; bpfnet's messages say %d", per, ctl.ConntrackEntryBytes)
	}
	in.MustRun("network", "ls") // the flag unset: the table as it is
	in.MustFail("already holds 8192 entries", "--conntrack-entries", "16384", "network", "ls")
	in.MustRun("system", "reset", "-f")
	in.MustRun("--conntrack-entries", "16384", "network", "ls")
	if n := pinnedCTEntries(t, in); n != 16384 {
		t.Fatalf("after a reset: conntrack table of %d entries, want 16384", n)
	}
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var got [2]int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &got[0], &got[1])
	return got[0] > major || got[0] == major && got[1] >= minor
}

// conntrackBytesPerEntry is the memory the kernel charges for the pinned
// conntrack table (fdinfo's memlock) over its entries.
func conntrackBytesPerEntry(t *testing.T, in *tu.Instance) float64 {
	t.Helper()
	ct, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", "bpfnet_ct"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", ct.FD()))
	if err != nil {
		t.Fatal(err)
	}
	var memlock uint64
	for _, line := range strings.Split(string(info), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "memlock" {
			fmt.Sscan(strings.TrimSpace(v), &memlock)
		}
	}
	if memlock == 0 {
		t.Fatalf("no memlock in %s", info)
	}
	return float64(memlock) / float64(ct.MaxEntries())
}

// TestDefaultSubnetSkipsHostAddress: an address the host holds without a
// route of its prefix (a /32) keeps the default bridge off its subnet, and
// a user subnet holding it is refused.
func TestDefaultSubnetSkipsHostAddress(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	spare := tu.NewNetns(t, t.TempDir(), "spare", nil)
	if err := tu.AddVeth(in.HostNetns, "extra", "172.17.5.5/32", spare, ""); err != nil {
		t.Fatal(err)
	}
	var nets []struct {
		Name string
		IPAM struct{ Config []struct{ Subnet string } }
	}
	in.MustJSON(&nets, "network", "inspect", "bridge")
	if len(nets) != 1 || len(nets[0].IPAM.Config) != 1 || nets[0].IPAM.Config[0].Subnet != "172.18.0.0/16" {
		t.Errorf("default bridge %+v, want 172.18.0.0/16 (the host holds 172.17.5.5)", nets)
	}
	mustFailUnchanged(t, in, "invalid subnet 172.17.0.0/16: the host already holds 172.17.5.5 (on extra)",
		"network", "create", "--subnet", "172.17.0.0/16", "docker0like")
}

// TestOldStoreNamesEscaped: names that a store from before the checks may
// hold (here written into the store file) reach the terminal escaped in
// tables and errors, and unchanged through JSON.
func TestOldStoreNamesEscaped(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "plain")
	in.CreateContainer("web", "--network", "plain", "-p", "8080:80")
	const evilNet, evilCtr = "net\x1b]0;owned\x07\x1b[2J\u009b31m", "web\x1b[1;1H\x7f"
	renameInStore(t, in, "networks", "plain", evilNet)
	renameInStore(t, in, "containers", "web", evilCtr)

	for _, args := range [][]string{
		{"network", "ls"}, {"container", "ls"}, {"stats"}, {"port", evilCtr},
		{"network", "ls", "--format", "json"}, {"container", "ls", "--format", "json"},
		{"network", "inspect", evilNet}, {"container", "inspect", evilCtr}, {"stats", "--format", "json"},
		{"network", "ls", "--format", "table {{.Name}}\t{{.Labels}}"}, {"container", "ls", "--format", "{{.Names}} {{.Networks}}"},
		{"container", "inspect", "-f", "{{.Name}}", evilCtr}, {"stats", "--format", "{{.Container}}"},
		{"system", "check"}, {"system", "repair"},
	} {
		r := in.Run(args...)
		if r.Code != 0 {
			t.Errorf("%v", r)
		}
		if raw := rawControl(r.Stdout + r.Stderr); raw != "" {
			t.Errorf("bpfnet %q printed the raw control %s:\n%q", args, raw, r.Stdout+r.Stderr)
		}
	}
	for _, args := range [][]string{{"network", "ls"}, {"container", "ls"}, {"stats"}} {
		if out := in.MustRun(args...); !strings.Contains(out, `"net\x1b]0;owned\a\x1b[2J\u009b31m"`) {
			t.Errorf("bpfnet %s does not show the escaped network name:\n%s", args, out)
		}
	}
	if out := in.MustRun("container", "ls"); !strings.Contains(out, `"web\x1b[1;1H\x7f"`) {
		t.Errorf("container ls does not show the escaped container name:\n%s", out)
	}
	// JSON carries the names as stored.
	if names := in.Names("network"); !reflect.DeepEqual(names, []string{"bridge", "host", evilNet, "none"}) {
		t.Errorf("network ls --format json names %q", names)
	}
	c := in.Inspect(evilCtr)
	if c.Name != "/"+evilCtr {
		t.Errorf("container inspect name %q, want %q", c.Name, "/"+evilCtr)
	}
	// Errors quote them too.
	for _, args := range [][]string{
		{"port", evilCtr, "81"},
		{"network", "rm", evilNet},
		{"network", "create", evilNet},
		{"container", "create", evilCtr},
	} {
		r := in.Run(args...)
		if r.Code != 1 {
			t.Errorf("want exit 1: %v", r)
		}
		if raw := rawControl(r.Stdout + r.Stderr); raw != "" {
			t.Errorf("bpfnet %q printed the raw control %s:\n%q", args, raw, r.Stdout+r.Stderr)
		}
	}
	in.MustRun("container", "rm", evilCtr)
	if out := in.MustRun("network", "rm", evilNet); rawControl(out) != "" {
		t.Errorf("network rm echoed a raw control: %q", out)
	}
}

// rawControl names the first character in s that a terminal may act on
// (C0 but newline and tab, DEL, C1), or "".
func rawControl(s string) string {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			return fmt.Sprintf("%U", r)
		}
	}
	return ""
}

// renameInStore sets the Name of the record named from in bucket of the
// instance's store, as an older bpfnet could have written it.
func renameInStore(t *testing.T, in *tu.Instance, bucket, from, to string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(in.Root, "bpfnet.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	renamed := false
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("no bucket %s", bucket)
		}
		puts := map[string][]byte{}
		err := b.ForEach(func(k, v []byte) error {
			var rec map[string]any
			if err := json.Unmarshal(v, &rec); err != nil || rec["Name"] != from {
				return nil
			}
			rec["Name"] = to
			data, err := json.Marshal(rec)
			puts[string(k)] = data
			return err
		})
		for k, data := range puts {
			if err == nil {
				err = b.Put([]byte(k), data)
			}
			// Containers are found by name through an index of their own.
			if names := tx.Bucket([]byte("container_names")); err == nil && names != nil {
				if err = names.Delete([]byte(from)); err == nil {
					err = names.Put([]byte(to), []byte(k))
				}
			}
		}
		renamed = len(puts) == 1
		return err
	})
	if err != nil || !renamed {
		t.Fatalf("rename %s %s in the store: renamed %v, %v", bucket, from, renamed, err)
	}
}
