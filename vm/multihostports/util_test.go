package multihostports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/bpfnet/bpfnet/tests/testutil"
)

// bpfnet runs the CLI against the VM's default instance (the VM's root namespace is the host),
// as a second process: this test binary with testutil.EnvAsCLI set (see TestMain).
func bpfnet(args ...string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	limit := testutil.Scale(60 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BPFNET_") { // no BPFNET_ROOT and such: the default instance
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, testutil.EnvAsCLI+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader("")
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v", limit)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("bpfnet %s: %v\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), err, stdout.String(), strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// bpfnetJSON runs the CLI and decodes its stdout into v.
func bpfnetJSON(v any, args ...string) error {
	out, err := bpfnet(args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("bpfnet %s: decode %q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// notPublishedDrops is what `bpfnet stats --format json CONTAINER` counts as NOT_PUBLISHED.
func notPublishedDrops(container string) (uint64, error) {
	var all []testutil.EndpointStats
	if err := bpfnetJSON(&all, "stats", "--format", "json", container); err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, fmt.Errorf("stats %s: no endpoint", container)
	}
	var n uint64
	for _, s := range all {
		n += s.Dropped("NOT_PUBLISHED")
	}
	return n, nil
}

// record is one exchange a server saw: the peer's address and what it sent.
type record struct {
	Peer netip.Addr
	Msg  string
}

// recorder keeps what a server saw, for the host that runs it to assert.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (r *recorder) add(peer net.Addr, msg string) {
	var ip netip.Addr
	switch a := peer.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	r.mu.Lock()
	r.recs = append(r.recs, record{ip.Unmap(), msg})
	r.mu.Unlock()
}

func (r *recorder) records() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.recs...)
}

// withPrefix returns the records whose message starts with prefix.
func (r *recorder) withPrefix(prefix string) []record {
	var out []record
	for _, rec := range r.records() {
		if strings.HasPrefix(rec.Msg, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

// inNetns runs fn in the namespace at path; "" is the caller's own.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return kernel.DoPath(path, fn)
}

// serve opens a recording echo server on addr ("tcp" or "udp") in the namespace at path. A TCP
// connection is recorded as soon as it is accepted (Msg "") and again with its first line; that
// line is echoed. A UDP datagram is recorded and echoed.
func serve(path, network, addr string) (*recorder, io.Closer, error) {
	r := &recorder{}
	var c io.Closer
	err := inNetns(path, func() error {
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			c = pc
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					r.add(from, string(buf[:n]))
					_, _ = pc.WriteTo(buf[:n], from)
				}
			}()
			return nil
		}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		c = ln
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				r.add(conn.RemoteAddr(), "")
				go func() {
					defer conn.Close()
					_ = conn.SetDeadline(time.Now().Add(testutil.Scale(10 * time.Second)))
					line, err := bufio.NewReader(conn).ReadString('\n')
					if err != nil {
						return
					}
					r.add(conn.RemoteAddr(), strings.TrimSuffix(line, "\n"))
					_, _ = conn.Write([]byte(line))
				}()
			}
		}()
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s server on %s in %q: %w", network, addr, path, err)
	}
	return r, c, nil
}

// errNoAnswer: nothing came back in time (a timeout, as opposed to a refusal).
var errNoAnswer = errors.New("no answer")

// tcpEcho connects from the namespace at path to addr, sends msg as a line and wants it back.
// A connection that times out is errNoAnswer; a refused one wraps ECONNREFUSED.
func tcpEcho(path, addr, msg string, timeout time.Duration) error {
	var conn net.Conn
	err := inNetns(path, func() (err error) {
		conn, err = net.DialTimeout("tcp4", addr, timeout)
		return err
	})
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("tcp connect to %s: %w within %v (%v)", addr, errNoAnswer, timeout, err)
		}
		return fmt.Errorf("tcp connect to %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return fmt.Errorf("tcp write to %s: %w", addr, err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("tcp echo from %s: %w within %v", addr, errNoAnswer, timeout)
		}
		return fmt.Errorf("tcp read from %s: %w", addr, err)
	}
	if got = strings.TrimSuffix(got, "\n"); got != msg {
		return fmt.Errorf("tcp echo from %s: got %q, sent %q", addr, got, msg)
	}
	return nil
}

// udpEcho sends msg to addr from a connected UDP socket (so the answer must come from addr) up to
// four times within timeout and wants it back. No answer is errNoAnswer; an ICMP port
// unreachable wraps ECONNREFUSED.
func udpEcho(addr, msg string, timeout time.Duration) error {
	conn, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 2048)
	for try := 0; try < 4; try++ {
		if _, err := conn.Write([]byte(msg)); err != nil {
			return fmt.Errorf("udp send to %s: %w", addr, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(timeout / 4))
		n, err := conn.Read(buf)
		switch {
		case err == nil && string(buf[:n]) == msg:
			return nil
		case err == nil:
			return fmt.Errorf("udp echo from %s: got %q, sent %q", addr, buf[:n], msg)
		case !isTimeout(err):
			return fmt.Errorf("udp read from %s: %w", addr, err)
		}
	}
	return fmt.Errorf("udp echo from %s: %w within %v", addr, errNoAnswer, timeout)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, unix.ETIMEDOUT)
}

func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

// netnsCookie is what bpfnet reads as the host namespace's cookie (SO_NETNS_COOKIE, 5.14+), for
// a failure's diagnosis.
func netnsCookie() string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err.Error()
	}
	defer unix.Close(fd)
	v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return fmt.Sprintf("getsockopt SO_NETNS_COOKIE: %v (bpfnet then gives its socket programs cookie 0)", err)
	}
	return fmt.Sprintf("SO_NETNS_COOKIE = %d", v)
}
