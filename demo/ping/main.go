// Command ping is the demo's own ICMP echo client, so `make demo` needs
// nothing a fresh machine lacks (iputils-ping is not in Debian's base).
// It takes the few flags of iputils' ping the demo uses and prints lines
// in its shape: ping [-c count] [-i interval] [-W timeout] ADDRESS.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

const payload = "bpfnet demo: ICMP echo requests of 56 bytes, as iputils."

func main() {
	count := flag.Int("c", 3, "stop after `count` echo requests")
	interval := flag.Float64("i", 1, "`seconds` between requests")
	wait := flag.Float64("W", 1, "`seconds` to wait for each reply")
	flag.Parse()
	if flag.NArg() != 1 || *count < 1 || *interval <= 0 || *wait <= 0 {
		fmt.Fprintln(os.Stderr, "usage: ping [-c count] [-i seconds] [-W seconds] IPv4-ADDRESS")
		os.Exit(2)
	}
	dst, err := netip.ParseAddr(flag.Arg(0))
	if err != nil || !dst.Is4() {
		fmt.Fprintf(os.Stderr, "ping: %s: not an IPv4 address\n", flag.Arg(0))
		os.Exit(2)
	}
	received, err := run(dst, *count, seconds(*interval), seconds(*wait))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ping: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("\n--- %s ping statistics ---\n%d packets transmitted, %d received, %d%% packet loss\n",
		dst, *count, received, 100*(*count-received) / *count)
	if received == 0 {
		os.Exit(1)
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// run sends count requests and reports how many were answered.
func run(dst netip.Addr, count int, interval, wait time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return 0, fmt.Errorf("open an ICMP socket: %w", err)
	}
	defer unix.Close(fd)
	id := uint16(os.Getpid())
	fmt.Printf("PING %s %d(%d) bytes of data.\n", dst, len(payload), len(payload)+28)
	received := 0
	for seq := 1; seq <= count; seq++ {
		sent := time.Now()
		to := &unix.SockaddrInet4{Addr: dst.As4()}
		if err := unix.Sendto(fd, frames.ICMPEcho(frames.ICMPEchoRequest, id, uint16(seq), []byte(payload)), 0, to); err != nil {
			return received, fmt.Errorf("send an echo request to %s: %w", dst, err)
		}
		if n, err := awaitReply(fd, dst, id, uint16(seq), sent.Add(wait)); err == nil {
			received++
			fmt.Printf("%d bytes from %s: icmp_seq=%d time=%.3f ms\n", n, dst, seq,
				float64(time.Since(sent).Microseconds())/1000)
		} else if !errors.Is(err, errNoReply) {
			return received, err
		}
		if seq < count {
			time.Sleep(time.Until(sent.Add(interval)))
		}
	}
	return received, nil
}

var errNoReply = errors.New("no reply")

// awaitReply reads until dst answers request (id, seq) or deadline
// passes, and returns the reply's ICMP length.
func awaitReply(fd int, dst netip.Addr, id, seq uint16, deadline time.Time) (int, error) {
	buf := make([]byte, 1500)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, errNoReply
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("wait for a reply from %s: %w", dst, err)
		}
		n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read a reply from %s: %w", dst, err)
		}
		sa, ok := from.(*unix.SockaddrInet4)
		if !ok || netip.AddrFrom4(sa.Addr) != dst || n < 20 {
			continue
		}
		icmp := buf[int(buf[0]&0xf)*4 : n]
		if len(icmp) >= 8 && icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id &&
			binary.BigEndian.Uint16(icmp[6:]) == seq {
			return len(icmp), nil
		}
	}
}
