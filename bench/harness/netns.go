package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"golang.org/x/sys/unix"
)

// netns is a named network namespace of this run (/run/netns/<name>), or an
// anonymous one known only by path (a dockerd container's).
type netns struct {
	name string // "" for a namespace known only by path
	path string
}

// label names n in logs and messages.
func (n *netns) label() string {
	if n.name != "" {
		return n.name
	}
	return filepath.Base(n.path)
}

// newNetns creates "bnb-<pid>-<short>" with its loopback up.
func (s *session) newNetns(short string) (*netns, error) {
	name := s.prefix + short
	if _, err := s.run("ip", "netns", "add", name); err != nil {
		return nil, err
	}
	s.push(func() { s.deleteNetns(name) })
	n := &netns{name: name, path: "/run/netns/" + name}
	if _, err := s.run("ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return n, nil
}

// deleteNetns kills what still runs inside (only this run's processes can
// be there) and deletes the namespace, which takes its devices with it.
func (s *session) deleteNetns(name string) {
	if out, err := s.runQuiet("ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			if p, err := strconv.Atoi(f); err == nil {
				_ = unix.Kill(p, unix.SIGKILL)
			}
		}
	}
	_, _ = s.runQuiet("ip", "netns", "del", name)
}

// ip runs `ip -n <ns> args...`.
func (n *netns) ip(args ...string) []string {
	return append([]string{"ip", "-n", n.name}, args...)
}

// exec builds a command line that runs argv inside the namespace. nsenter
// only switches the network namespace (unlike `ip netns exec`, which also
// remounts /sys).
func (n *netns) exec(argv ...string) []string {
	return append([]string{"nsenter", "--net=" + n.path}, argv...)
}

// sysctl sets keys (net.* only: they are per namespace) inside n.
func (s *session) sysctl(n *netns, kv ...string) error {
	_, err := s.run(n.exec(append([]string{"sysctl", "-qw"}, kv...)...)...)
	return err
}

// clientSysctls are what connection-rate tests need in a client's namespace:
// TIME_WAIT ports reused for new outgoing connections, and many ports.
func (s *session) clientSysctls(n *netns) error {
	return s.sysctl(n, "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535")
}

// hostClientSysctls is clientSysctls for a host namespace that is also a
// client (host-local access): its ephemeral ports stay clear of the host
// ports published or bound (8080, 10000-19998, 30000-30006), which a client
// socket in TIME_WAIT would otherwise hold, and of the masquerade range
// (61000+). The kernel's default range (32768-60999, 28k ports) caps a
// connection-rate run at about 14.1k connections/s here: with tcp_tw_reuse a
// port in TIME_WAIT is taken again only after one to two seconds.
func (s *session) hostClientSysctls(n *netns) error {
	return s.sysctl(n, "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=20000 60999",
		"net.ipv4.ip_local_reserved_ports=30000-30099")
}

// veth creates a pair: devA in a, devB in b.
func (s *session) veth(a *netns, devA string, b *netns, devB string, mtu int) error {
	cmd := a.ip("link", "add", devA, "mtu", strconv.Itoa(mtu), "type", "veth", "peer", "name", devB, "mtu", strconv.Itoa(mtu), "netns", b.name)
	_, err := s.run(cmd...)
	return err
}

// addrUp puts cidr on dev in n and brings dev up.
func (s *session) addrUp(n *netns, dev, cidr string) error {
	return s.runAll([][]string{
		n.ip("addr", "add", cidr, "dev", dev),
		n.ip("link", "set", dev, "up"),
	})
}

// waitListening polls until a TCP socket listens on port inside n.
func (s *session) waitListening(n *netns, port int, p *proc) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := s.run(n.exec("ss", "-Hltn", fmt.Sprintf("sport = :%d", port))...)
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		if p != nil && !p.running() {
			return fmt.Errorf("%s exited: %s", p.name, p.logTail())
		}
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on port %d in %s after 10s", port, n.path)
}

// inNetns runs f with this goroutine's OS thread in n (kernel.Do).
// Children started inside f are forked from that thread and so start in n:
// used where an nsenter in between would distort a timing.
func inNetns(n *netns, f func() error) error { return kernel.DoPath(n.path, f) }
