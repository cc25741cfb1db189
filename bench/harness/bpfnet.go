package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bpfnet/bpfnet/ctl"
	"golang.org/x/sys/unix"
)

// bpfnet is the system under test, driven through its CLI exactly as a user
// would: one instance whose "host" is a namespace of this run and whose
// state (store, bpffs, container netns files) lives in this run's temp dir.
//
// Each case is one function below returning a target (published ports:
// setPublished, publishedTarget, timePublish; host-local: hostLocalTarget).
// Cases that bpfnet cannot do yet return errNotYetBuilt and show as "not yet
// built": overlayTarget (cross-host) for now.
type bpfnet struct {
	h      *harness
	bin    string
	root   string
	bpffs  string
	nsDir  string
	host   *netns // the instance's host namespace
	lan    *netns // LAN client, linked to host's uplink0 like the reference's
	c1, c2 *netns // server and client containers (netns files made by bpfnet)
	c1IP   string
	others int    // published ports of container "others"
	status string // "" when it runs; else why not ("not built")
	reason string
}

var errNotYetBuilt = errors.New("not yet built")

// bpfnetNetwork is bpfnet's predefined default network, which takes
// 172.17.0.0/16 like docker0: the reference is Docker's default bridge.
const bpfnetNetwork = "bridge"

// setupBpfnet builds ./cmd/bpfnet and makes the same-host topology with it.
// It never fails the run: when bpfnet cannot be built or set up, its cells
// read "not built" and the reason goes into the report.
func setupBpfnet(h *harness) *bpfnet {
	b := &bpfnet{h: h}
	if err := b.setup(); err != nil {
		b.status, b.reason = "not built", err.Error()
	}
	return b
}

func (b *bpfnet) setup() error {
	s := b.h.s
	if _, err := os.Stat(filepath.Join(b.h.repo, "cmd", "bpfnet")); err != nil {
		return fmt.Errorf("./cmd/bpfnet does not exist yet")
	}
	b.bin = filepath.Join(s.tmp, "bpfnet")
	build := exec.CommandContext(s.ctx, "go", "build", "-o", b.bin, "./cmd/bpfnet")
	// Static, as `make build` makes it: no dynamic loader at each CLI call.
	build.Dir, build.Env = b.h.repo, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bpfnet: %s", firstLine(string(out)))
	}
	dir := filepath.Join(s.tmp, "bpfnet-instance")
	b.root, b.bpffs, b.nsDir = filepath.Join(dir, "root"), filepath.Join(dir, "bpffs"), filepath.Join(dir, "netns")
	for _, d := range []string{b.root, b.bpffs, b.nsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var err error
	if b.host, err = s.newNetns("bhost"); err != nil {
		return err
	}
	// Undone before the namespace and the dir go (the undo stack is LIFO).
	s.push(func() { _, _ = b.cliQuiet("system", "reset", "-f") })

	for _, name := range []string{"c1", "c2"} {
		if _, err := b.cli("container", "create", name, "--network", bpfnetNetwork); err != nil {
			return err
		}
	}
	b.c1 = &netns{path: filepath.Join(b.nsDir, "c1")}
	b.c2 = &netns{path: filepath.Join(b.nsDir, "c2")}
	if b.c1IP, err = b.containerIP("c1"); err != nil {
		return err
	}
	if err := s.clientSysctls(b.c2); err != nil {
		return err
	}
	if err := b.h.startServers(b.c1, true); err != nil {
		return err
	}

	// The LAN side, as for the reference: published ports will use it.
	if b.lan, err = s.newNetns("blan"); err != nil {
		return err
	}
	if err := s.veth(b.host, "uplink0", b.lan, "eth0", 1500); err != nil {
		return err
	}
	if err := s.addrUp(b.host, "uplink0", uplinkHostIP+"/24"); err != nil {
		return err
	}
	if err := s.addrUp(b.lan, "eth0", uplinkLanIP+"/24"); err != nil {
		return err
	}
	if err := s.clientSysctls(b.lan); err != nil {
		return err
	}
	if err := s.hostClientSysctls(b.host); err != nil {
		return err
	}
	// Published from the start, as the reference's N=1 ruleset is.
	return b.publishMeasured()
}

func (b *bpfnet) argv(args ...string) []string {
	return append([]string{b.bin, "--root", b.root, "--bpffs", b.bpffs,
		"--host-netns", b.host.path, "--netns-dir", b.nsDir}, args...)
}

func (b *bpfnet) cli(args ...string) (string, error) { return b.h.s.run(b.argv(args...)...) }

func (b *bpfnet) cliQuiet(args ...string) (string, error) {
	if b.bin == "" || b.host == nil {
		return "", nil
	}
	return b.h.s.runQuiet(b.argv(args...)...)
}

// containerIP reads NetworkSettings.Networks.<net>.IPAddress from
// `container inspect`, which prints Docker-shaped JSON (an object or, like
// docker inspect, an array of one).
func (b *bpfnet) containerIP(name string) (string, error) {
	out, err := b.cli("container", "inspect", name)
	if err != nil {
		return "", err
	}
	type inspect struct {
		NetworkSettings struct {
			Networks map[string]struct {
				IPAddress string
			}
		}
	}
	var one inspect
	var many []inspect
	data := bytes.TrimSpace([]byte(out))
	if len(data) > 0 && data[0] == '[' {
		if err := json.Unmarshal(data, &many); err != nil || len(many) == 0 {
			return "", fmt.Errorf("container inspect %s: %q", name, firstLine(out))
		}
		one = many[0]
	} else if err := json.Unmarshal(data, &one); err != nil {
		return "", fmt.Errorf("container inspect %s: %w", name, err)
	}
	ip := one.NetworkSettings.Networks[bpfnetNetwork].IPAddress
	if ip == "" {
		return "", fmt.Errorf("container inspect %s: no IPAddress on network %s", name, bpfnetNetwork)
	}
	return ip, nil
}

func (b *bpfnet) containerTarget() (*target, error) {
	return &target{client: b.c2, addr: addrPort(b.c1IP, loadgenPort), iperf: b.c1IP, flush: []*netns{b.host}}, nil
}

// ---- published ports (bpfnet publishes without iptables: a map entry per
// port, read by its uplink and socket programs) ----

// publishMeasured publishes c1's loadgenPort as host port publishedPort, the port
// every published-port case measures.
func (b *bpfnet) publishMeasured() error {
	_, err := b.cli("container", "publish", "c1", "-p", fmt.Sprintf("%d:%d", publishedPort, loadgenPort))
	return err
}

// setPublished makes n published ports on the instance: n-1 others (on a
// container "others", host ports 10000.. -> its ports 20000..), then c1's
// loadgenPort as host port publishedPort, published last as the reference
// does (a hash lookup does not care, but the steps stay the same). Called
// with n = 1, 1000, 10000 in turn; it only grows.
func (b *bpfnet) setPublished(n int) error {
	want := n - 1
	if want < b.others {
		return fmt.Errorf("bpfnet: cannot go from %d to %d other published ports", b.others, want)
	}
	if want == b.others {
		return nil
	}
	if b.others == 0 {
		if _, err := b.cli("container", "create", "others", "--network", bpfnetNetwork); err != nil {
			return err
		}
	}
	lo, hi := otherPortsBase+b.others, otherPortsBase+want-1
	if _, err := b.cli("container", "publish", "others", "-p",
		fmt.Sprintf("%d-%d:%d-%d", lo, hi, lo+10000, hi+10000)); err != nil {
		return err
	}
	b.others = want
	spec := fmt.Sprintf("%d:%d", publishedPort, loadgenPort)
	if _, err := b.cli("container", "unpublish", "c1", spec); err != nil {
		return err
	}
	return b.publishMeasured()
}

// flushCT is bpfnet's own conntrack flush, run before each published-port
// run as `conntrack -F` is for the reference.
func (b *bpfnet) flushCT() []string { return b.argv("conntrack", "flush") }

// publishedTarget: the LAN client (b.lan) dialling uplinkHostIP:publishedPort.
func (b *bpfnet) publishedTarget() (*target, error) {
	return &target{client: b.lan, addr: addrPort(uplinkHostIP, publishedPort), reset: [][]string{b.flushCT()}}, nil
}

// Ways bpfnet's publish is timed (publishResult.Method).
const (
	pubCLI     = "bpfnet CLI call (process start included)"
	pubInProc  = "bpfnet operation in process (open, publish, close)"
	pubStartup = "bpfnet --help (process start alone)"
	// A bbolt commit writes its pages, fdatasyncs, writes the meta page
	// and fdatasyncs again: no durable publish is faster on this disk.
	pubSyncFloor = "two 4 KiB writes, each fdatasynced, in the store's directory (a commit's floor)"
)

// timePublish: milliseconds of publishing c2's port PORT:7000 at the
// current N, reps times, each unpublished again, untimed:
//   - the whole `bpfnet container publish` call, as a user at a shell pays it;
//   - the same operation in this process (ctl.Open, Publish, Close), as a
//     long-running caller (a Docker network plugin, a CNI runtime) pays it;
//   - `bpfnet --help`, the part of the CLI call that is process start.
func (b *bpfnet) timePublish(reps int) (map[string][]float64, error) {
	out := map[string][]float64{}
	for i := 0; i < reps; i++ {
		spec := fmt.Sprintf("%d:%d", publishTimingPort+i, loadgenPort)
		t0 := time.Now()
		if _, err := b.cli("container", "publish", "c2", "-p", spec); err != nil {
			return out, err
		}
		out[pubCLI] = append(out[pubCLI], ms(time.Since(t0)))
		if _, err := b.cli("container", "unpublish", "c2", spec); err != nil {
			return out, err
		}

		opts := ctl.Options{Root: b.root, BPFFS: b.bpffs, NetnsDir: b.nsDir, HostNetns: b.host.path}
		t0 = time.Now()
		in, err := ctl.Open(opts)
		if err != nil {
			return out, err
		}
		_, err = in.Publish("c2", []string{spec})
		in.Close()
		if err != nil {
			return out, err
		}
		out[pubInProc] = append(out[pubInProc], ms(time.Since(t0)))
		if _, err := b.cli("container", "unpublish", "c2", spec); err != nil {
			return out, err
		}

		t0 = time.Now()
		if _, err := b.h.s.runQuiet(b.bin, "--help"); err != nil {
			return out, err
		}
		out[pubStartup] = append(out[pubStartup], ms(time.Since(t0)))

		floor, err := syncFloor(b.root)
		if err != nil {
			return out, err
		}
		out[pubSyncFloor] = append(out[pubSyncFloor], ms(floor))
	}
	return out, nil
}

// syncFloor times what a bbolt commit must do at the least: overwrite a
// page of an allocated file and fdatasync, then another and fdatasync.
func syncFloor(dir string) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "syncfloor-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	if _, err := f.WriteAt(append(page, page...), 0); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil { // allocated, as a store's pages are
		return 0, err
	}
	t0 := time.Now()
	for _, off := range []int64{4096, 0} {
		if _, err := f.WriteAt(page, off); err != nil {
			return 0, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// hostLocalTarget: a client in b.host dialling 127.0.0.1:publishedPort
// (bpfnet's connect4 program points the socket straight at the container).
func (b *bpfnet) hostLocalTarget() (*target, error) {
	return &target{client: b.host, addr: addrPort("127.0.0.1", publishedPort), reset: [][]string{b.flushCT()}}, nil
}

// ---- cases bpfnet does not have yet: fill these in as they land ----

// overlayTarget: two bpfnet hosts joined by an underlay veth (see
// overlay_ref.go for the reference's), a container on each, the client's
// namespace and the server's address as it dials it.
func (b *bpfnet) overlayTarget() (*target, error) { return nil, errNotYetBuilt }

// ---- memory ----

type bpfnetMemory struct {
	Maps         int    `json:"maps"`
	MapBytes     int64  `json:"map_bytes_memlock"`
	CLIMaxRSSKiB int64  `json:"cli_max_rss_kib"`
	CLICommand   string `json:"cli_command"`
}

// memory sums the memlock of every map pinned under the instance's bpffs
// (bpftool map show pinned) and measures the peak RSS of one CLI call.
func (b *bpfnet) memory() (*bpfnetMemory, error) {
	m := &bpfnetMemory{}
	err := filepath.WalkDir(b.bpffs, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out, err := b.h.s.run("bpftool", "-j", "map", "show", "pinned", path)
		if err != nil {
			return nil // a pinned program or link, not a map
		}
		var info struct {
			BytesMemlock int64 `json:"bytes_memlock"`
		}
		if json.Unmarshal([]byte(out), &info) == nil {
			m.Maps++
			m.MapBytes += info.BytesMemlock
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	args := []string{"container", "inspect", "c1"}
	m.CLICommand = "bpfnet " + strings.Join(args, " ")
	cmd := exec.CommandContext(b.h.s.ctx, b.argv(args...)[0], b.argv(args...)[1:]...)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", m.CLICommand, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.CLIMaxRSSKiB = ru.Maxrss
	}
	return m, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
