package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The Docker reference: the kernel dataplane that dockerd 20.10-27 builds
// for its default bridge with --userland-proxy=false, rebuilt here by hand in
// namespaces of this run, so that it can be measured next to bpfnet without
// a daemon (DOCKERD=1 adds the real daemon to show the two agree).
//
//	dlan (LAN client) --veth-- dhost ("host": docker0 bridge + iptables) --veth-- dc1, dc2
//
// Where the rules come from (moby, read with the project's search tool):
//   - libnetwork/drivers/bridge/setup_ip_tables.go, setupIPTablesInternal and
//     ProgramChain: the nat jumps, MASQUERADE and the FORWARD rules;
//   - libnetwork/iptables/iptables.go, (*ChainInfo).Forward, called once per
//     published port by the bridge driver's port mapping (setPerPortNAT /
//     port_mapping): three rules per port, each added by ProgramRule, which
//     first runs `iptables -C` and appends (`-A`) only when it is missing:
//     nat DOCKER      -p tcp -d 0/0 --dport HOSTPORT -j DNAT --to-destination CIP:CPORT
//     (plus "! -i docker0" unless hairpin mode, i.e. userland-proxy=true)
//     filter DOCKER   ! -i docker0 -o docker0 -p tcp -d CIP --dport CPORT -j ACCEPT
//     nat POSTROUTING -p tcp -s CIP -d CIP --dport CPORT -j MASQUERADE
//   - integration/network/bridge/iptablesdoc/generated/*.md: the resulting
//     tables as iptables-save prints them, for each daemon option.
//
// With userland-proxy=false ("hairpin mode") the nat OUTPUT jump has no
// "! -d 127.0.0.0/8", the DOCKER chain has no "-i docker0 -j RETURN", the
// DNAT rules have no "! -i docker0", POSTROUTING gets "-o docker0 -m addrtype
// --src-type LOCAL -j MASQUERADE", and dockerd sets route_localnet=1 on the
// bridge: that is the host-local path measured on 127.0.0.1. FORWARD's
// policy is DROP because dockerd turned ip_forward on itself. Docker 28 moved
// the FORWARD rules into DOCKER-FORWARD/ipsets and 29 can use nftables; the
// per-port rules, which are what scale with N, keep the same shape.
type dockerRef struct {
	h                 *harness
	host, c1, c2, lan *netns
	published         int   // ports in the ruleset now
	proxy             *proc // docker-proxy, when the binary is installed
	proxyErr          string
}

const (
	dockerBridge   = "docker0"
	dockerSubnet   = "172.17.0.0/16"
	dockerC1       = "172.17.0.2" // server container
	dockerC2       = "172.17.0.3" // client container
	uplinkHostIP   = "198.18.0.1" // RFC 2544 benchmarking range, inside this run's namespaces only
	uplinkLanIP    = "198.18.0.2"
	publishedPort  = 8080  // host port of the measured container
	proxyPort      = 8081  // host port served by docker-proxy
	otherPortsBase = 10000 // host ports of the other published ports: 10000-19998
	// publishTimingPort+i are the ports published (and removed) to time one
	// more publication, below the default ephemeral range of host clients.
	publishTimingPort = 30000
)

func setupDockerRef(h *harness) (*dockerRef, error) {
	s := h.s
	d := &dockerRef{h: h}
	var err error
	for _, p := range []struct {
		n    **netns
		name string
	}{{&d.host, "dhost"}, {&d.c1, "dc1"}, {&d.c2, "dc2"}, {&d.lan, "dlan"}} {
		if *p.n, err = s.newNetns(p.name); err != nil {
			return nil, err
		}
	}
	cmds := [][]string{
		d.host.ip("link", "add", dockerBridge, "type", "bridge"),
		d.host.ip("addr", "add", "172.17.0.1/16", "dev", dockerBridge),
		d.host.ip("link", "set", dockerBridge, "up"),
	}
	if err := s.runAll(cmds); err != nil {
		return nil, err
	}
	if err := s.sysctl(d.host, "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1",
		"net.ipv4.conf."+dockerBridge+".route_localnet=1"); err != nil {
		return nil, err
	}
	for i, c := range []*netns{d.c1, d.c2} {
		hostDev := fmt.Sprintf("veth-dc%d", i+1)
		if err := s.veth(d.host, hostDev, c, "eth0", 1500); err != nil {
			return nil, err
		}
		ip := []string{dockerC1, dockerC2}[i]
		cmds := [][]string{
			d.host.ip("link", "set", hostDev, "master", dockerBridge),
			// dockerd turns hairpin mode on for bridge ports with the
			// userland proxy off.
			d.host.ip("link", "set", hostDev, "type", "bridge_slave", "hairpin", "on"),
			d.host.ip("link", "set", hostDev, "up"),
			c.ip("addr", "add", ip+"/16", "dev", "eth0"),
			c.ip("link", "set", "eth0", "up"),
			c.ip("route", "add", "default", "via", "172.17.0.1"),
		}
		if err := s.runAll(cmds); err != nil {
			return nil, err
		}
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
	for _, n := range []*netns{d.c2, d.lan} {
		if err := s.clientSysctls(n); err != nil {
			return nil, err
		}
	}
	if err := s.hostClientSysctls(d.host); err != nil {
		return nil, err
	}
	if err := d.setPublished(1); err != nil {
		return nil, err
	}
	if err := h.startServers(d.c1, true); err != nil {
		return nil, err
	}
	d.startProxy()
	return d, nil
}

// startProxy runs the real docker-proxy (Debian's docker.io ships it) in the
// host namespace for 127.0.0.1:proxyPort -> dc1, as dockerd does per port
// with the userland proxy on (its default). Without the binary the
// docker-proxy cells say so.
func (d *dockerRef) startProxy() {
	bin := findDockerProxy()
	if bin == "" {
		d.proxyErr = "docker-proxy not installed (`make bench` installs docker.io)"
		return
	}
	argv := d.host.exec("taskset", "-c", strconv.Itoa(d.h.cfg.cpu), bin, "-proto", "tcp",
		"-host-ip", "127.0.0.1", "-host-port", strconv.Itoa(proxyPort),
		"-container-ip", dockerC1, "-container-port", strconv.Itoa(loadgenPort))
	p, err := startDockerProxy(d.h.s, argv)
	if err != nil {
		d.proxyErr = err.Error()
		return
	}
	d.proxy = p
}

// startDockerProxy starts docker-proxy as dockerd does: it reports on fd 3
// ("0\n" when listening, "1\n<error>" when not) and closes fd 3 afterwards,
// so without that pipe it would close its own listening socket.
func startDockerProxy(s *session, argv []string) (*proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p, err := s.startWith("docker-proxy", argv, nil, []*os.File{w})
	w.Close()
	if err != nil {
		return nil, err
	}
	msg := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		msg <- string(b)
	}()
	select {
	case m := <-msg:
		if !strings.HasPrefix(m, "0\n") {
			p.kill()
			return nil, fmt.Errorf("docker-proxy did not start: %q %s", m, p.logTail())
		}
	case <-time.After(10 * time.Second):
		p.kill()
		return nil, fmt.Errorf("docker-proxy: no answer on fd 3 in 10s")
	}
	return p, nil
}

func findDockerProxy() string {
	if p, err := exec.LookPath("docker-proxy"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/docker-proxy", "/usr/libexec/docker/docker-proxy", "/usr/lib/docker/docker-proxy"} {
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	return ""
}

// Targets of the reference, one per case.

func (d *dockerRef) containerTarget() *target {
	return &target{client: d.c2, addr: addrPort(dockerC1, loadgenPort), iperf: dockerC1, flush: []*netns{d.host}}
}

func (d *dockerRef) publishedTarget() *target {
	return &target{client: d.lan, addr: addrPort(uplinkHostIP, publishedPort), flush: []*netns{d.host}}
}

func (d *dockerRef) hostLocalTarget() *target {
	return &target{client: d.host, addr: addrPort("127.0.0.1", publishedPort), flush: []*netns{d.host}}
}

func (d *dockerRef) proxyTarget() *target {
	return &target{client: d.host, addr: addrPort("127.0.0.1", proxyPort), flush: []*netns{d.host}}
}

func addrPort(ip string, port int) string { return ip + ":" + strconv.Itoa(port) }

// otherContainer is the address of the i-th container behind the other
// published ports: containers that do not exist, as on a busy host their
// rules are only walked past.
func otherContainer(i int) string {
	return fmt.Sprintf("172.17.%d.%d", 1+i/250, 2+i%250)
}

// setPublished loads the whole ruleset with n published ports: n-1 others,
// then the measured one (host port 8080 -> dc1:7000), published last as a
// container started on a busy host is, so the first packet of each new
// connection walks past all the others' rules, as it does in Docker.
// iptables-restore replaces the nat and filter tables in one transaction.
func (d *dockerRef) setPublished(n int) error {
	rules := dockerRuleset(n)
	cmd := exec.CommandContext(d.h.s.ctx, "nsenter", "--net="+d.host.path, "iptables-restore")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore (%d ports): %w: %s", n, err, strings.TrimSpace(string(out)))
	}
	d.published = n
	return nil
}

type publishedRule struct {
	hostPort int
	cip      string
}

func dockerRuleset(n int) string {
	var ports []publishedRule
	for i := 0; i < n-1; i++ {
		ports = append(ports, publishedRule{otherPortsBase + i, otherContainer(i)})
	}
	ports = append(ports, publishedRule{publishedPort, dockerC1})
	cport := strconv.Itoa(loadgenPort)

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("*nat")
	w(":PREROUTING ACCEPT [0:0]")
	w(":INPUT ACCEPT [0:0]")
	w(":OUTPUT ACCEPT [0:0]")
	w(":POSTROUTING ACCEPT [0:0]")
	w(":DOCKER - [0:0]")
	w("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER")
	w("-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER")
	w("-A POSTROUTING -o %s -m addrtype --src-type LOCAL -j MASQUERADE", dockerBridge)
	w("-A POSTROUTING -s %s ! -o %s -j MASQUERADE", dockerSubnet, dockerBridge)
	for _, p := range ports {
		w("-A POSTROUTING -s %s/32 -d %s/32 -p tcp -m tcp --dport %s -j MASQUERADE", p.cip, p.cip, cport)
	}
	for _, p := range ports {
		w("-A DOCKER -p tcp -m tcp --dport %d -j DNAT --to-destination %s:%s", p.hostPort, p.cip, cport)
	}
	w("COMMIT")
	w("*filter")
	w(":INPUT ACCEPT [0:0]")
	w(":FORWARD DROP [0:0]")
	w(":OUTPUT ACCEPT [0:0]")
	w(":DOCKER - [0:0]")
	w(":DOCKER-ISOLATION-STAGE-1 - [0:0]")
	w(":DOCKER-ISOLATION-STAGE-2 - [0:0]")
	w(":DOCKER-USER - [0:0]")
	w("-A FORWARD -j DOCKER-USER")
	w("-A FORWARD -j DOCKER-ISOLATION-STAGE-1")
	w("-A FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", dockerBridge)
	w("-A FORWARD -o %s -j DOCKER", dockerBridge)
	w("-A FORWARD -i %s ! -o %s -j ACCEPT", dockerBridge, dockerBridge)
	w("-A FORWARD -i %s -o %s -j ACCEPT", dockerBridge, dockerBridge)
	for _, p := range ports {
		w("-A DOCKER -d %s/32 ! -i %s -o %s -p tcp -m tcp --dport %s -j ACCEPT", p.cip, dockerBridge, dockerBridge, cport)
	}
	w("-A DOCKER-ISOLATION-STAGE-1 -i %s ! -o %s -j DOCKER-ISOLATION-STAGE-2", dockerBridge, dockerBridge)
	w("-A DOCKER-ISOLATION-STAGE-1 -j RETURN")
	w("-A DOCKER-ISOLATION-STAGE-2 -o %s -j DROP", dockerBridge)
	w("-A DOCKER-ISOLATION-STAGE-2 -j RETURN")
	w("-A DOCKER-USER -j RETURN")
	w("COMMIT")
	return b.String()
}

// timePublish measures publishing one more port at the current N, reps
// times, two ways (milliseconds each):
//   - append: `iptables -t nat -A` (DNAT) + `iptables -t filter -A` (ACCEPT),
//     the least any iptables-based publisher must do;
//   - dockerd: what 20.10's Forward runs: -C then -A for each of its three
//     rules (the -C is what makes it slow on iptables-nft: it reads the
//     whole chain).
//
// Commands are forked straight into the host namespace (no nsenter in the
// timing) with --wait as dockerd passes it; each added port is removed again
// untimed.
func (d *dockerRef) timePublish(reps int) (appendMS, dockerdMS []float64, err error) {
	err = inNetns(d.host, func() error {
		for i := 0; i < reps; i++ {
			hp := strconv.Itoa(publishTimingPort + i)
			cip := fmt.Sprintf("172.17.255.%d", 2+i)
			cp := strconv.Itoa(loadgenPort)
			dnat := []string{"-p", "tcp", "-d", "0/0", "--dport", hp, "-j", "DNAT", "--to-destination", cip + ":" + cp}
			accept := []string{"!", "-i", dockerBridge, "-o", dockerBridge, "-p", "tcp", "-d", cip, "--dport", cp, "-j", "ACCEPT"}
			masq := []string{"-p", "tcp", "-s", cip, "-d", cip, "--dport", cp, "-j", "MASQUERADE"}
			rules := []struct {
				table, chain string
				args         []string
			}{{"nat", "DOCKER", dnat}, {"filter", "DOCKER", accept}, {"nat", "POSTROUTING", masq}}

			t0 := time.Now()
			for _, r := range rules[:2] {
				if err := iptables(r.table, "-A", r.chain, r.args); err != nil {
					return err
				}
			}
			appendMS = append(appendMS, ms(time.Since(t0)))
			for _, r := range rules[:2] {
				if err := iptables(r.table, "-D", r.chain, r.args); err != nil {
					return err
				}
			}

			t0 = time.Now()
			for _, r := range rules {
				if err := iptables(r.table, "-C", r.chain, r.args); err == nil {
					return fmt.Errorf("rule for port %s already present", hp)
				}
				if err := iptables(r.table, "-A", r.chain, r.args); err != nil {
					return err
				}
			}
			dockerdMS = append(dockerdMS, ms(time.Since(t0)))
			for _, r := range rules {
				if err := iptables(r.table, "-D", r.chain, r.args); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return appendMS, dockerdMS, err
}

func iptables(table, op, chain string, args []string) error {
	argv := append([]string{"--wait", "-t", table, op, chain}, args...)
	out, err := exec.Command("iptables", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
