// Package multihost is the scenario that `make vm-test-multihost` runs in each of its three VMs
// today: the hosts reach each other over the shared segment, and a kernel vxlan device between
// host1 and host2 passes traffic. Outside such a run every test skips.
package multihost

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/vm/cluster"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

const echoPort = 7701

// TestSegmentEcho: every host runs a TCP echo server on its segment address and every host
// gets an answer from every other one.
func TestSegmentEcho(t *testing.T) {
	topo := cluster.Skip(t)
	stop := serveEcho(t, netip.AddrPortFrom(topo.Self.Addr, echoPort))
	defer stop()
	if err := cluster.Barrier(topo, "echo-listening", time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, peer := range topo.Peers {
		msg := fmt.Sprintf("hello %s from %s", peer.Role, topo.Self.Role)
		got, err := echo(netip.AddrPortFrom(peer.Addr, echoPort), msg)
		if err != nil {
			t.Errorf("%s (%s): %v", peer.Role, peer.Addr, err)
			continue
		}
		t.Logf("%s -> %s (%s): %q", topo.Self.Role, peer.Role, peer.Addr, got)
	}
	// Keep the server up until every host has had its answers.
	if err := cluster.Barrier(topo, "echo-done", time.Minute); err != nil {
		t.Fatal(err)
	}
}

// serveEcho answers every line with the same line until stop is called.
func serveEcho(t *testing.T, at netip.AddrPort) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", at.String())
	if err != nil {
		t.Fatalf("listen %s: %v", at, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					_, _ = c.Write([]byte(line))
				}
			}()
		}
	}()
	return func() { ln.Close() }
}

// echo sends msg to an echo server and returns the answer.
func echo(to netip.AddrPort, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", to.String(), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, msg); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	got = strings.TrimSuffix(got, "\n")
	if got != msg {
		return got, fmt.Errorf("answer %q, want %q", got, msg)
	}
	return got, nil
}
