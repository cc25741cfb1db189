// Package cluster tells a test running in one VM of `make vm-test-multihost` which virtual host
// it is and where its peers are, and lets the hosts wait for each other.
//
// vm/init.sh exports, from the kernel command line that vm/multihost.sh writes for each VM:
//
//	BPFNET_VM_ROLE   this host's role: host1, host2 or client
//	BPFNET_VM_ADDR   this host's address on the shared segment, as a prefix (198.18.77.1/24)
//	BPFNET_VM_DEV    the segment's device in the VM (eth0)
//	BPFNET_VM_PEERS  the other hosts, "role=addr,role=addr"
//
// A scenario is a test package run in every VM; its TestMain calls Main so that no VM powers off
// while a peer still talks to it, and its tests call Skip (outside a multi-host run) and Barrier.
package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BarrierPort is the TCP port on which every host answers barrier messages.
const BarrierPort = 7700

// Host is one VM of a multi-host run.
type Host struct {
	Role string
	Addr netip.Addr
}

// Topology is what the environment says about this run; Self is zero outside a multi-host run.
type Topology struct {
	Self   Host
	Prefix netip.Prefix // Self's address with the segment's prefix length
	Dev    string       // the segment's network device
	Peers  []Host
}

// FromEnv reads the topology that vm/init.sh exported; ok is false outside a multi-host VM.
func FromEnv() (topo Topology, ok bool, err error) {
	role := os.Getenv("BPFNET_VM_ROLE")
	if role == "" || os.Getenv("BPFNET_VM") != "1" {
		return Topology{}, false, nil
	}
	topo.Prefix, err = netip.ParsePrefix(os.Getenv("BPFNET_VM_ADDR"))
	if err != nil {
		return Topology{}, false, fmt.Errorf("BPFNET_VM_ADDR: %w", err)
	}
	topo.Self = Host{Role: role, Addr: topo.Prefix.Addr()}
	topo.Dev = os.Getenv("BPFNET_VM_DEV")
	for _, kv := range strings.Split(os.Getenv("BPFNET_VM_PEERS"), ",") {
		if kv == "" {
			continue
		}
		r, a, found := strings.Cut(kv, "=")
		addr, perr := netip.ParseAddr(a)
		if !found || perr != nil {
			return Topology{}, false, fmt.Errorf("BPFNET_VM_PEERS entry %q: want role=addr", kv)
		}
		topo.Peers = append(topo.Peers, Host{Role: r, Addr: addr})
	}
	return topo, true, nil
}

// Peer returns the peer with the given role.
func (t Topology) Peer(role string) (Host, bool) {
	for _, h := range t.Peers {
		if h.Role == role {
			return h, true
		}
	}
	return Host{}, false
}

// Roles returns every role of the run, this host's included, sorted.
func (t Topology) Roles() []string {
	roles := []string{t.Self.Role}
	for _, h := range t.Peers {
		roles = append(roles, h.Role)
	}
	slices.Sort(roles)
	return roles
}

// Skip skips the test outside a multi-host VM and returns the topology inside one.
func Skip(tb testing.TB) Topology {
	tb.Helper()
	topo, ok, err := FromEnv()
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		tb.Skip("not in a multi-host VM (make vm-test-multihost)")
	}
	return topo
}

// Main runs the tests, then waits until every host has finished this binary, so that a host
// that is done does not power off while its peers still connect to it. Use it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	topo, ok, err := FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	if !ok {
		return code
	}
	name := "exit:" + filepath.Base(os.Args[0])
	if err := Barrier(topo, name, 5*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	return code
}

// Barrier returns once every host in roles (all hosts when roles is empty) has called Barrier
// with the same name, or fails after timeout. Every host in roles must call it.
func Barrier(topo Topology, name string, timeout time.Duration, roles ...string) error {
	if name == "" || strings.ContainsAny(name, " \n") {
		return fmt.Errorf("barrier name %q: want one word", name)
	}
	if len(roles) == 0 {
		roles = topo.Roles()
	}
	if !slices.Contains(roles, topo.Self.Role) {
		return fmt.Errorf("barrier %s: %s is not one of %v", name, topo.Self.Role, roles)
	}
	if err := startServer(); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	acked := map[string]bool{topo.Self.Role: true}
	for {
		for _, role := range roles {
			if acked[role] {
				continue
			}
			peer, ok := topo.Peer(role)
			if !ok {
				return fmt.Errorf("barrier %s: no host has role %s", name, role)
			}
			if announce(peer, name, topo.Self.Role) == nil {
				acked[role] = true
			}
		}
		if len(acked) == len(roles) && arrivedAll(name, roles, topo.Self.Role) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("barrier %s: timed out after %v: told %v, heard from %v",
				name, timeout, keys(acked), arrivedRoles(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	serverOnce sync.Once
	serverErr  error
	mu         sync.Mutex
	arrived    = map[string]map[string]bool{} // barrier name -> roles heard from
)

func startServer() error {
	serverOnce.Do(func() {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", BarrierPort))
		if err != nil {
			serverErr = fmt.Errorf("barrier server: %w", err)
			return
		}
		go serve(ln)
	})
	return serverErr
}

func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			name, role, ok := strings.Cut(strings.TrimSpace(line), " ")
			if err != nil || !ok {
				return
			}
			// Acknowledge before recording: once this host has heard from everyone it may
			// exit, and the sender must have its answer by then.
			if _, err := c.Write([]byte("ok\n")); err != nil {
				return
			}
			mu.Lock()
			if arrived[name] == nil {
				arrived[name] = map[string]bool{}
			}
			arrived[name][role] = true
			mu.Unlock()
		}()
	}
}

func announce(peer Host, name, self string) error {
	addr := netip.AddrPortFrom(peer.Addr, BarrierPort).String()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s %s\n", name, self); err != nil {
		return err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if reply != "ok\n" {
		return errors.New("unexpected barrier reply")
	}
	return nil
}

func arrivedAll(name string, roles []string, self string) bool {
	mu.Lock()
	defer mu.Unlock()
	for _, r := range roles {
		if r != self && !arrived[name][r] {
			return false
		}
	}
	return true
}

func arrivedRoles(name string) []string {
	mu.Lock()
	defer mu.Unlock()
	return keys(arrived[name])
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
