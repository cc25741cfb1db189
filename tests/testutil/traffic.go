package testutil

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"golang.org/x/sys/unix"
)

// ErrNoAnswer is what a probe returns when nothing came back in time.
var ErrNoAnswer = errors.New("no answer")

// socketIn opens a socket in the namespace at path.
func socketIn(path string, domain, typ, proto int) (int, error) {
	var fd int
	err := kernel.DoPath(path, func() (err error) {
		fd, err = unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
		return err
	})
	return fd, err
}

// waitReadable polls fd until it is readable or the deadline passes.
func waitReadable(fd int, deadline time.Time) bool {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// EchoRequest is an ICMP echo request with id, seq and a 32-byte payload.
func EchoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+32)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "bpfnet-e2e-echo-payload-32-bytes")
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

// Ping sends ICMP echo requests from the namespace at path to dst until a
// reply from dst comes or timeout passes.
func Ping(path, dst string, timeout time.Duration) error { return PingFrom(path, "", dst, timeout) }

// PingFrom is Ping with the source address bound to src ("" lets the kernel choose).
func PingFrom(path, src, dst string, timeout time.Duration) error {
	to, err := netip.ParseAddr(dst)
	if err != nil {
		return err
	}
	fd, err := socketIn(path, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("icmp socket: %w", err)
	}
	defer unix.Close(fd)
	if src != "" {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: netip.MustParseAddr(src).As4()}); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	id := uint16(rand.Uint32())
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		if err := unix.Sendto(fd, EchoRequest(id, seq), 0, &unix.SockaddrInet4{Addr: to.As4()}); err != nil {
			return fmt.Errorf("send echo request to %s: %w", dst, err)
		}
		next := time.Now().Add(250 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		for waitReadable(fd, next) {
			n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			sa, ok := from.(*unix.SockaddrInet4)
			if !ok || netip.AddrFrom4(sa.Addr) != to || n < 20 {
				continue
			}
			icmp := buf[int(buf[0]&0xf)*4 : n]
			if len(icmp) >= 8 && icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %s: %w within %v", dst, ErrNoAnswer, timeout)
}

// Listen opens a listener ("tcp" or "udp") on ip with a free port in the
// namespace at path and echoes everything it receives until closed.
func Listen(path, network, ip string) (io.Closer, string, error) {
	var c io.Closer
	var addr string
	err := kernel.DoPath(path, func() error {
		hostPort := net.JoinHostPort(ip, "0")
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", hostPort)
			if err != nil {
				return err
			}
			c, addr = pc, pc.LocalAddr().String()
			go echoPackets(pc)
			return nil
		}
		l, err := net.Listen("tcp4", hostPort)
		if err != nil {
			return err
		}
		c, addr = l, l.Addr().String()
		go acceptEcho(l)
		return nil
	})
	return c, addr, err
}

func acceptEcho(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_, _ = io.Copy(conn, conn)
		}()
	}
}

func echoPackets(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// Dial connects from the namespace at path.
func Dial(path, network, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := kernel.DoPath(path, func() (err error) {
		conn, err = net.DialTimeout(network+"4", addr, timeout)
		return err
	})
	return conn, err
}

// Echo makes one exchange through a server started by Listen: TCP connects
// and sends a message; UDP sends it up to four times. The echoed bytes must
// equal what was sent.
func Echo(path, network, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	conn, err := Dial(path, network, addr, timeout)
	if err != nil {
		if errors.Is(err, unix.ETIMEDOUT) || isTimeout(err) {
			return fmt.Errorf("%s connect to %s: %w (%v)", network, addr, ErrNoAnswer, err)
		}
		return err
	}
	defer conn.Close()
	msg := fmt.Appendf(nil, "bpfnet-e2e %s %d", network, rand.Uint64())
	got := make([]byte, len(msg))
	for try := 0; try < 4; try++ {
		if try > 0 && network != "udp" {
			break
		}
		if _, err := conn.Write(msg); err != nil {
			return fmt.Errorf("%s write to %s: %w", network, addr, err)
		}
		end := time.Now().Add(time.Until(deadline) / time.Duration(4-try))
		if network != "udp" {
			end = deadline
		}
		_ = conn.SetReadDeadline(end)
		if _, err = io.ReadFull(conn, got); err == nil {
			if !bytes.Equal(got, msg) {
				return fmt.Errorf("%s echo from %s: got %q, sent %q", network, addr, got, msg)
			}
			return nil
		}
		if !isTimeout(err) {
			return fmt.Errorf("%s read from %s: %w", network, addr, err)
		}
	}
	return fmt.Errorf("%s echo from %s: %w within %v", network, addr, ErrNoAnswer, timeout)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Stream runs echo round trips of 1 KiB over one TCP connection until stop
// is closed; any round trip slower than stall, or any wrong byte, ends it
// with an error. It returns the number of round trips done.
func Stream(conn net.Conn, stop <-chan struct{}, stall time.Duration) (int, error) {
	msg := make([]byte, 1024)
	got := make([]byte, len(msg))
	for n := 0; ; n++ {
		select {
		case <-stop:
			return n, nil
		default:
		}
		binary.BigEndian.PutUint64(msg, uint64(n))
		_ = conn.SetDeadline(time.Now().Add(stall))
		if _, err := conn.Write(msg); err != nil {
			return n, fmt.Errorf("round trip %d: write: %w", n, err)
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			return n, fmt.Errorf("round trip %d: read: %w", n, err)
		}
		if !bytes.Equal(got, msg) {
			return n, fmt.Errorf("round trip %d: echoed bytes differ", n)
		}
	}
}
