package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dockerdRef is DOCKERD=1: a private, real dockerd (Debian's docker.io
// 20.10), measured like the reference to show the two agree. The daemon runs
// inside a network namespace of this run (nsenter --net, pinned to the
// measuring CPU with everything it starts): its iptables rules, docker0 and
// ip_forward land there, never in the root namespace. Its state lives in
// the run's temp dir, its containers in a cgroup parent named after the run,
// and its image is imported offline from a tarball (busybox-static and the
// load generator): no registry is needed.
type dockerdRef struct {
	h       *harness
	version string
	dir     string
	docker  string // client binary
	host    *netns // the daemon's network namespace ("host")
	lan     *netns // LAN client on the host's uplink, as for the reference
	daemon  *proc
	cgroup  string
	srvIP   string
	srv     *netns // server container's namespace (/proc/PID/ns/net)
	cli     *netns // client container's namespace
}

const dockerdImage = "bnb-bench:latest"

func setupDockerd(h *harness) (*dockerdRef, error) {
	s := h.s
	d := &dockerdRef{h: h, dir: filepath.Join(s.tmp, "dockerd"), cgroup: s.prefix + "dockerd"}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd not installed (apt-get install docker.io)")
	}
	// Debian's client matches the daemon; a newer client elsewhere in PATH
	// would also do, through API version negotiation.
	d.docker = "/usr/bin/docker"
	if _, err := os.Stat(d.docker); err != nil {
		if d.docker, err = exec.LookPath("docker"); err != nil {
			return nil, fmt.Errorf("docker client not installed")
		}
	}
	busybox, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "exec"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	if d.host, err = s.newNetns("dockerd"); err != nil {
		return nil, err
	}
	if d.lan, err = s.newNetns("ddlan"); err != nil {
		return nil, err
	}
	if err := s.veth(d.host, "uplink0", d.lan, "eth0", 1500); err != nil {
		return nil, err
	}
	if err := s.addrUp(d.host, "uplink0", uplinkHostIP+"/24"); err != nil {
		return nil, err
	}
	if err := s.addrUp(d.lan, "eth0", uplinkLanIP+"/24"); err != nil {
		return nil, err
	}
	if err := s.clientSysctls(d.lan); err != nil {
		return nil, err
	}
	if err := s.hostClientSysctls(d.host); err != nil {
		return nil, err
	}

	argv := d.host.exec("taskset", "-c", strconv.Itoa(h.cfg.cpu), dockerd,
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "dockerd.pid"), "-H", "unix://"+d.sock(),
		"--config-file", filepath.Join(d.dir, "daemon.json"), "--storage-driver", "vfs",
		"--cgroup-parent", "/"+d.cgroup, "--iptables=true", "--ip-forward=true", "--userland-proxy=true")
	if d.daemon, err = s.start("dockerd", argv, nil); err != nil {
		return nil, err
	}
	d.daemon.ownStop = true
	s.push(d.stop)
	if err := d.waitReady(60 * time.Second); err != nil {
		return nil, err
	}

	tarball, err := imageTar(busybox, h.loadgen)
	if err != nil {
		return nil, err
	}
	imp := exec.CommandContext(s.ctx, d.docker, "-H", "unix://"+d.sock(), "import", "-", dockerdImage)
	imp.Stdin = bytes.NewReader(tarball)
	if out, err := imp.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker import: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if _, err := d.cmd("run", "-d", "--name", "bnb-srv", "-p", fmt.Sprintf("%d:%d", publishedPort, loadgenPort),
		dockerdImage, "/loadgen", "server", "-listen", fmt.Sprintf(":%d", loadgenPort)); err != nil {
		return nil, err
	}
	// The client container only holds a namespace for the client to enter;
	// its sleep is bounded, and the container is removed at the end anyway.
	if _, err := d.cmd("run", "-d", "--name", "bnb-cli", dockerdImage, "/bin/busybox", "sleep", "3600"); err != nil {
		return nil, err
	}
	var srvPID, cliPID string
	if srvPID, d.srvIP, err = d.inspect("bnb-srv"); err != nil {
		return nil, err
	}
	if cliPID, _, err = d.inspect("bnb-cli"); err != nil {
		return nil, err
	}
	d.srv = &netns{path: "/proc/" + srvPID + "/ns/net"}
	d.cli = &netns{path: "/proc/" + cliPID + "/ns/net"}
	if err := s.waitListening(d.srv, loadgenPort, nil); err != nil {
		return nil, err
	}
	if err := s.clientSysctls(d.cli); err != nil {
		return nil, err
	}
	if err := h.startIperf(d.srv); err != nil {
		return nil, err
	}
	if err := s.waitListening(d.host, publishedPort, nil); err != nil {
		return nil, fmt.Errorf("docker-proxy of the published port: %w", err)
	}
	v, err := d.cmd("version", "--format", "{{.Server.Version}}")
	d.version = "dockerd " + strings.TrimSpace(v)
	return d, err
}

func (d *dockerdRef) sock() string { return filepath.Join(d.dir, "docker.sock") }

func (d *dockerdRef) cmd(args ...string) (string, error) {
	return d.h.s.run(append([]string{d.docker, "-H", "unix://" + d.sock()}, args...)...)
}

func (d *dockerdRef) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, err := d.cmd("version"); err == nil {
			return nil
		}
		if !d.daemon.running() {
			return fmt.Errorf("dockerd exited: %s", d.daemon.logTail())
		}
		select {
		case <-d.h.s.ctx.Done():
			return d.h.s.ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("dockerd not ready after %v: %s", limit, d.daemon.logTail())
}

func (d *dockerdRef) inspect(name string) (pid, ip string, err error) {
	out, err := d.cmd("inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.IPAddress}}", name)
	if err != nil {
		return "", "", err
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] == "0" {
		logs, _ := d.cmd("logs", name)
		return "", "", fmt.Errorf("container %s is not running: %s", name, truncate(logs, 200))
	}
	return f[0], f[1], nil
}

// stop removes the containers, stops the daemon (SIGTERM, then SIGKILL after
// 20 s) and kills whatever is left in the run's cgroup parent (container
// processes whose shim died with a killed daemon), then removes the cgroups.
func (d *dockerdRef) stop() {
	if d.daemon.running() {
		_, _ = d.h.s.runQuiet(d.docker, "-H", "unix://"+d.sock(), "rm", "-f", "bnb-srv", "bnb-cli")
		d.daemon.stop(syscall.SIGTERM, 20*time.Second)
	}
	removeCgroups(d.cgroup)
}

// removeCgroups kills the processes in every cgroup called name (any
// hierarchy, v1 or v2) and removes those cgroups, deepest first.
func removeCgroups(name string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if more, _ := filepath.Glob("/sys/fs/cgroup/" + name); len(more) > 0 {
		dirs = append(dirs, more...)
	}
	for _, dir := range dirs {
		var tree []string
		_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				tree = append(tree, p)
			}
			return nil
		})
		for i := len(tree) - 1; i >= 0; i-- {
			if b, err := os.ReadFile(filepath.Join(tree[i], "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}
		for i := len(tree) - 1; i >= 0; i-- {
			for try := 0; try < 20; try++ {
				if err := os.Remove(tree[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// staticBusybox finds Debian's busybox-static (a dynamic busybox would not
// run in an image without a libc).
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		out, err := exec.Command("file", "-L", p).Output()
		if err == nil && strings.Contains(string(out), "statically linked") {
			return p, nil
		}
		if err != nil {
			// No file(1): trust the path, the container start will tell.
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no static busybox (apt-get install busybox-static)")
}

// imageTar is the image's root filesystem: /bin/busybox, /bin/sh and the
// (static) load generator as /loadgen.
func imageTar(busybox, loadgen string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	}
	for _, dir := range []string{"bin/", "tmp/", "etc/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	if err := add("bin/busybox", busybox); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/sh", Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777}); err != nil {
		return nil, err
	}
	if err := add("loadgen", loadgen); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Targets, as for the reference.

func (d *dockerdRef) containerTarget() *target {
	return &target{client: d.cli, addr: addrPort(d.srvIP, loadgenPort), iperf: d.srvIP, flush: []*netns{d.host}}
}

func (d *dockerdRef) publishedTarget() *target {
	return &target{client: d.lan, addr: addrPort(uplinkHostIP, publishedPort), flush: []*netns{d.host}}
}

// proxyTarget is 127.0.0.1 on the daemon's host: with the userland proxy on
// (dockerd's default), that is docker-proxy's listening socket.
func (d *dockerdRef) proxyTarget() *target {
	return &target{client: d.host, addr: addrPort("127.0.0.1", publishedPort), flush: []*netns{d.host}}
}

// addTo puts the real daemon beside the reference in the cases it can do.
func (d *dockerdRef) addTo(same, pub1, hl *benchCase) {
	all, rc := []metric{mRR, mCRR, mTput}, []metric{mRR, mCRR}
	same.systems = append(same.systems, sys("dockerd", d.containerTarget(), nil, all...))
	same.ratios = append(same.ratios, ratioDef{mRR, "dockerd", "docker", 0}, ratioDef{mCRR, "dockerd", "docker", 0},
		ratioDef{mTput, "dockerd", "docker", 0})
	pub1.systems = append(pub1.systems, sys("dockerd", d.publishedTarget(), nil, rc...))
	pub1.ratios = append(pub1.ratios, ratioDef{mRR, "dockerd", "docker", 0}, ratioDef{mCRR, "dockerd", "docker", 0})
	hl.systems = append(hl.systems, sys("dockerd-proxy", d.proxyTarget(), nil, rc...))
	hl.ratios = append(hl.ratios, ratioDef{mRR, "dockerd-proxy", "docker-proxy", 0}, ratioDef{mCRR, "dockerd-proxy", "docker-proxy", 0},
		ratioDef{mRR, "bpfnet", "dockerd-proxy", 0}, ratioDef{mCRR, "bpfnet", "dockerd-proxy", 0})
}

// memory reports the resident memory (KiB) of the daemon, its containerd
// and docker-proxy processes, and the peak RSS of one `docker ps`.
func (d *dockerdRef) memory() map[string]int64 {
	m := map[string]int64{}
	if !d.daemon.running() {
		return m
	}
	pid := d.daemon.cmd.Process.Pid
	m["dockerd_rss"] = rssKiB(pid)
	for _, child := range childrenOf(pid) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child))
		name := strings.TrimSpace(string(comm))
		switch name {
		case "containerd", "docker-proxy":
			m[name+"_rss"] += rssKiB(child)
		}
	}
	cmd := exec.Command(d.docker, "-H", "unix://"+d.sock(), "ps")
	if cmd.Run() == nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m["docker_ps_max_rss"] = ru.Maxrss
		}
	}
	return m
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func childrenOf(ppid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ")".
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
				kids = append(kids, pid)
			}
		}
	}
	return kids
}
