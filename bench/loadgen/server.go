package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// serve echoes every byte it reads on each accepted TCP connection until the
// peer closes it. Connections are served one after another on this thread:
// every client of the harness is a single sequential stream (rr: one
// connection; crr: one connection at a time), and a sequential server costs
// no thread hand-off per connection.
func serve(listen string) error {
	sa, err := parseAddr(listen)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", listen, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	// The harness waits for this line before it starts a client.
	fmt.Fprintf(os.Stdout, "listening %s\n", listen)

	buf := make([]byte, 64)
	for {
		cfd, err := rawAccept(fd)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		_ = unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		echo(cfd, buf)
		unix.Close(cfd)
	}
}

// echo writes back what it reads until EOF or an error (a reset peer ends the
// connection like a clean close does).
func echo(fd int, buf []byte) {
	for {
		n, err := rawRead(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		if err := writeFull(fd, buf[:n]); err != nil {
			return
		}
	}
}

func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// parseAddr turns "ip:port" (ip may be empty for any) into an IPv4 sockaddr.
func parseAddr(s string) (*unix.SockaddrInet4, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("address %q: bad port", s)
	}
	sa := &unix.SockaddrInet4{Port: port}
	if host != "" {
		ip := net.ParseIP(host).To4()
		if ip == nil {
			return nil, fmt.Errorf("address %q: not an IPv4 address", s)
		}
		copy(sa.Addr[:], ip)
	}
	return sa, nil
}
