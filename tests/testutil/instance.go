package testutil

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Instance is a bpfnet instance of one test: its own root directory (so
// its own bpffs and container namespaces) and its own "host" network
// namespace, all removed when the test ends, even when it fails.
type Instance struct {
	t         testing.TB
	Dir       string // temp dir holding everything below
	Root      string // BPFNET_ROOT
	HostNetns string // BPFNET_HOST_NETNS, a namespace file in Dir
	Attach    string // BPFNET_ATTACH: "", "tc" or "tcx"
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and bpffs mounts")
	}
}

// NewInstance prepares an instance with attach mode attach; the CLI has not
// run yet, so a test may shape the host namespace first.
func NewInstance(t testing.TB, attach string) *Instance {
	t.Helper()
	RequireRoot(t)
	if attach == "tcx" {
		if err := HaveTCX(); err != nil {
			t.Skipf("kernel without tcx links (needs 6.6+): %v", err)
		}
	}
	dir := t.TempDir()
	in := &Instance{t: t, Dir: dir, Root: filepath.Join(dir, "root"), Attach: attach}
	in.HostNetns = NewNetns(t, dir, "host", HostSetup)
	t.Cleanup(in.cleanup)
	return in
}

// cleanup resets the instance and then removes whatever a failed reset
// left: mounts below Dir and the host namespace (TempDir's own cleanup,
// registered earlier, runs after this one).
func (in *Instance) cleanup() {
	if r := in.Run("system", "reset", "-f"); r.Code != 0 {
		in.t.Errorf("cleanup: %v", r)
	}
	mounts, err := MountsBelow(in.Dir)
	if err != nil {
		in.t.Errorf("cleanup: %v", err)
	}
	for _, m := range mounts {
		if filepath.Base(m) != "host" {
			in.t.Errorf("cleanup: system reset left mount %s", m)
		}
		_ = DeleteNetns(m) // unmount; removes a left namespace file too
	}
	_ = DeleteNetns(in.HostNetns)
}

// Env is the environment that points the CLI at this instance.
func (in *Instance) Env() []string {
	return []string{"BPFNET_ROOT=" + in.Root, "BPFNET_HOST_NETNS=" + in.HostNetns, "BPFNET_ATTACH=" + in.Attach}
}

// Run runs the CLI in a new process against the instance.
func (in *Instance) Run(args ...string) Result { return runCLI(in.Env(), args...) }

// MustRun runs the CLI and fails the test unless it exits 0; it returns stdout.
func (in *Instance) MustRun(args ...string) string {
	in.t.Helper()
	r := in.Run(args...)
	if r.Code != 0 {
		in.t.Fatalf("%v", r)
	}
	return r.Stdout
}

// MustFail runs the CLI and fails the test unless it exits 1 with want in
// its stderr.
func (in *Instance) MustFail(want string, args ...string) Result {
	in.t.Helper()
	r := in.Run(args...)
	if r.Code != 1 || !strings.Contains(r.Stderr, want) {
		in.t.Errorf("want exit 1 and %q in stderr; got %v", want, r)
	}
	return r
}

// MustJSON runs the CLI and decodes its stdout into v.
func (in *Instance) MustJSON(v any, args ...string) {
	in.t.Helper()
	out := in.MustRun(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		in.t.Fatalf("bpfnet %s: decode %q: %v", strings.Join(args, " "), out, err)
	}
}

// Endpoint is a container's view of one network, from container inspect.
type Endpoint struct {
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
	Interface   string
}

// MAC is the endpoint's MAC address, parsed.
func (e Endpoint) MAC() net.HardwareAddr {
	m, _ := net.ParseMAC(e.MacAddress)
	return m
}

// Container is `container inspect`'s view of a container.
type Container struct {
	Id         string
	Name       string
	HostConfig struct{ NetworkMode string }
	Settings   struct {
		SandboxKey string
		Networks   map[string]Endpoint
	} `json:"NetworkSettings"`
}

// Netns is the container's namespace file.
func (c *Container) Netns() string { return c.Settings.SandboxKey }

// On is the container's endpoint on network; the test fails without one.
func (in *Instance) On(c *Container, network string) Endpoint {
	in.t.Helper()
	ep, ok := c.Settings.Networks[network]
	if !ok {
		in.t.Fatalf("container %s has no endpoint on %s: %+v", c.Name, network, c.Settings.Networks)
	}
	return ep
}

// Inspect returns a container as `container inspect` shows it.
func (in *Instance) Inspect(name string) *Container {
	in.t.Helper()
	var cs []*Container
	in.MustJSON(&cs, "container", "inspect", name)
	if len(cs) != 1 {
		in.t.Fatalf("container inspect %s: %d results", name, len(cs))
	}
	return cs[0]
}

// CreateContainer runs `container create NAME ARGS...` and inspects the result.
func (in *Instance) CreateContainer(name string, args ...string) *Container {
	in.t.Helper()
	in.MustRun(append([]string{"container", "create", name}, args...)...)
	return in.Inspect(name)
}

// Drop is one row of a stats entry's drops.
type Drop struct {
	Reason    string
	Direction string
	Packets   uint64
}

// EndpointStats is one entry of `bpfnet stats --format json`.
type EndpointStats struct {
	Container string
	Network   string
	Endpoint  struct {
		IP, MAC, Ifname, HostIfname string
		Slot                        uint32
	}
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	Drops                                  []Drop
}

// Dropped sums the packets dropped for reason, in either direction.
func (s EndpointStats) Dropped(reason string) uint64 {
	var n uint64
	for _, d := range s.Drops {
		if d.Reason == reason {
			n += d.Packets
		}
	}
	return n
}

// Stats returns the counters of container's endpoint on network.
func (in *Instance) Stats(container, network string) EndpointStats {
	in.t.Helper()
	var all []EndpointStats
	in.MustJSON(&all, "stats", "--format", "json", container)
	for _, s := range all {
		if s.Network == network {
			return s
		}
	}
	in.t.Fatalf("stats %s: no endpoint on network %s in %+v", container, network, all)
	return EndpointStats{}
}

// Names lists the Name fields of `network ls`/`container ls --format json`.
func (in *Instance) Names(kind string) []string {
	in.t.Helper()
	out := in.MustRun(kind, "ls", "--format", "json")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var row map[string]string
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			in.t.Fatalf("%s ls: decode %q: %v", kind, line, err)
		}
		name := row["Name"]
		if kind == "container" {
			name = row["Names"]
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// NetnsFiles lists the container namespace files of the instance.
func (in *Instance) NetnsFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(in.Root, "netns"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// HostLinks lists the links of the instance's host namespace.
func (in *Instance) HostLinks() []string {
	in.t.Helper()
	links, err := Links(in.HostNetns)
	if err != nil {
		in.t.Fatal(err)
	}
	return links
}

// MountsBelow lists the mount points below dir, deepest first.
func MountsBelow(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ForEachAttach runs fn as the subtests "tc" and "tcx", each with an
// instance of its own in that attach mode. tcx skips on kernels before 6.6.
func ForEachAttach(t *testing.T, fn func(t *testing.T, in *Instance)) {
	RequireRoot(t)
	for _, mode := range []string{"tc", "tcx"} {
		t.Run(mode, func(t *testing.T) { fn(t, NewInstance(t, mode)) })
	}
}

// CheckAttached fails the test unless the host-side veth hostIfname has one
// program on ingress and one on egress, attached the way the instance's
// mode says: cls_bpf filters under clsact for "tc", TCX links for "tcx".
func (in *Instance) CheckAttached(hostIfname string) {
	in.t.Helper()
	count := map[string]int{}
	for hook, ids := range in.AttachedPrograms(hostIfname) {
		count[hook] = len(ids)
	}
	want := map[string]int{"tc ingress": 1, "tc egress": 1}
	if in.Attach == "tcx" {
		want = map[string]int{"tcx ingress": 1, "tcx egress": 1}
	}
	if !maps.Equal(count, want) {
		in.t.Errorf("programs on %s with BPFNET_ATTACH=%q: got %v, want %v", hostIfname, in.Attach, count, want)
	}
}

// AttachedPrograms returns the IDs of the programs on the device ifname of
// the instance's host namespace, by hook: "tc ingress", "tc egress" (cls_bpf
// filters), "tcx ingress", "tcx egress".
func (in *Instance) AttachedPrograms(ifname string) map[string][]uint32 {
	in.t.Helper()
	h, err := kernel.Handle(in.HostNetns)
	if err != nil {
		in.t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		in.t.Fatalf("host device %s: %v", ifname, err)
	}
	ids := map[string][]uint32{}
	for dir, parent := range map[string]uint32{"ingress": netlink.HANDLE_MIN_INGRESS, "egress": netlink.HANDLE_MIN_EGRESS} {
		filters, _ := h.FilterList(l, parent)
		for _, f := range filters {
			if bf, ok := f.(*netlink.BpfFilter); ok {
				ids["tc "+dir] = append(ids["tc "+dir], uint32(bf.Id))
			}
		}
	}
	if HaveTCX() == nil {
		err := kernel.DoPath(in.HostNetns, func() error {
			for dir, at := range map[string]ebpf.AttachType{"ingress": ebpf.AttachTCXIngress, "egress": ebpf.AttachTCXEgress} {
				q, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
				if err != nil {
					return err
				}
				for _, p := range q.Programs {
					ids["tcx "+dir] = append(ids["tcx "+dir], uint32(p.ID))
				}
			}
			return nil
		})
		if err != nil {
			in.t.Fatalf("query tcx programs of %s: %v", ifname, err)
		}
	}
	return ids
}
