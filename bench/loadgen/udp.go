package main

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Unconnected UDP, the way a DNS server and its clients talk: every
// datagram goes out with sendto and comes in with recvfrom (which asks for
// the sender's address), so each one runs the cgroup sendmsg4 and recvmsg4
// hooks of every program attached to them, whoever attached them.

// serveUDP echoes every datagram to its sender.
func serveUDP(listen string) error {
	sa, err := parseAddr(listen)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", listen, err)
	}
	fmt.Fprintf(os.Stdout, "listening %s/udp\n", listen)
	buf := make([]byte, 64)
	var from unix.RawSockaddrInet4
	for {
		n, err := rawRecvfrom(fd, buf, &from)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvfrom: %w", err)
		}
		_ = rawSendto(fd, buf[:n], &from)
	}
}

// runUDP sends one 1-byte datagram and waits for its echo, again and again,
// from an unconnected socket. Its rate counts datagrams: two per exchange.
// A datagram lost (none is, on one loopback) is sent again after 1 s and
// counted as an error.
func runUDP(sa *unix.SockaddrInet4, d time.Duration) (result, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return result{}, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return result{}, fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	to := rawAddr(sa)
	b := []byte{'x', 0}
	var from unix.RawSockaddrInet4
	var errs int64
	var lastErr error
	exchange := func() bool {
		err := rawSendto(fd, b[:1], &to)
		if err == nil {
			_, err = rawRecvfrom(fd, b, &from)
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			errs++
			lastErr = err
		}
		return err == nil
	}
	// The server may still be starting: up to 10 s for a first answer.
	for i := 0; !exchange(); i++ {
		if i == 10 {
			return result{}, fmt.Errorf("no answer from %s/udp: %w", addrString(sa), lastErr)
		}
	}
	errs, lastErr = 0, nil
	var n int64
	start := time.Now()
	deadline := start.Add(d)
	for {
		if exchange() {
			n++
		}
		if n&15 == 0 && time.Now().After(deadline) {
			break
		}
	}
	secs := time.Since(start).Seconds()
	r := result{Mode: "udp", Connect: addrString(sa), Seconds: secs, Count: 2 * n, Rate: float64(2*n) / secs, Errors: errs}
	if lastErr != nil {
		r.LastErr = lastErr.Error()
	}
	return r, nil
}

func rawAddr(sa *unix.SockaddrInet4) unix.RawSockaddrInet4 {
	rsa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: sa.Addr}
	p := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
	return rsa
}

// rawSendto and rawRecvfrom are rawio.go's calls for datagrams.
func rawSendto(fd int, b []byte, to *unix.RawSockaddrInet4) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(to)), unsafe.Sizeof(*to))
	if e != 0 {
		return e
	}
	return nil
}

func rawRecvfrom(fd int, b []byte, from *unix.RawSockaddrInet4) (int, error) {
	size := uint32(unsafe.Sizeof(*from))
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(from)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}
