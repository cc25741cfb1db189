package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// result is the one JSON line a client prints.
type result struct {
	Mode    string  `json:"mode"`
	Connect string  `json:"connect"`
	Seconds float64 `json:"seconds"`
	Count   int64   `json:"count"`
	Rate    float64 `json:"rate"` // round trips/s (rr) or connections/s (crr)
	Errors  int64   `json:"errors"`
	LastErr string  `json:"last_error,omitempty"`
}

func (r result) print() {
	b, _ := json.Marshal(r)
	fmt.Fprintln(os.Stdout, string(b))
}

func addrString(sa *unix.SockaddrInet4) string {
	return fmt.Sprintf("%d.%d.%d.%d:%d", sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3], sa.Port)
}

func dial(sa *unix.SockaddrInet4, linger0 bool) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if linger0 {
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("SO_LINGER: %w", err)
		}
	}
	if err := rawConnect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", addrString(sa), err)
	}
	return fd, nil
}

// exchange sends one byte and waits for the echo.
func exchange(fd int, b []byte) error {
	if err := writeFull(fd, b[:1]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	for {
		n, err := rawRead(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return errors.New("read: connection closed by server")
		}
		return nil
	}
}

// runRR is netperf's TCP_RR with 1-byte messages: one connection, one byte
// out, one byte back, as fast as the path allows.
func runRR(sa *unix.SockaddrInet4, d time.Duration) (result, error) {
	fd, err := dial(sa, false)
	if err != nil {
		return result{}, err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	b := []byte{'x', 0}
	// One exchange before the clock starts: the first round trip pays for
	// ARP and the connection's first trip through conntrack/NAT.
	if err := exchange(fd, b); err != nil {
		return result{}, err
	}
	var n int64
	start := time.Now()
	deadline := start.Add(d)
	for {
		if err := exchange(fd, b); err != nil {
			return result{}, err
		}
		n++
		if n&15 == 0 && time.Now().After(deadline) {
			break
		}
	}
	secs := time.Since(start).Seconds()
	return result{Mode: "rr", Connect: addrString(sa), Seconds: secs, Count: n, Rate: float64(n) / secs}, nil
}

// runCRR is netperf's TCP_CRR: connect, 1 byte each way, close, again. The
// client closes first, so TIME_WAIT sockets pile up on the client side:
// the harness sets net.ipv4.tcp_tw_reuse=1 and a wide ip_local_port_range in
// the client's namespace (or pass -linger0 to close with a reset).
func runCRR(sa *unix.SockaddrInet4, d time.Duration, linger0 bool) (result, error) {
	b := []byte{'x', 0}
	var n, errs int64
	var lastErr error
	start := time.Now()
	deadline := start.Add(d)
	for time.Now().Before(deadline) {
		fd, err := dial(sa, linger0)
		if err == nil {
			err = exchange(fd, b)
			unix.Close(fd)
		}
		if err != nil {
			errs++
			lastErr = err
			// A path that refuses every connection is a broken setup, not
			// a slow one: stop early instead of spinning for the whole run.
			if n == 0 && errs >= 100 {
				return result{}, fmt.Errorf("crr: %d failures, no success: %w", errs, err)
			}
			if errors.Is(err, unix.EADDRNOTAVAIL) {
				time.Sleep(time.Millisecond) // out of ports: let TIME_WAIT age
			}
			continue
		}
		n++
	}
	secs := time.Since(start).Seconds()
	r := result{Mode: "crr", Connect: addrString(sa), Seconds: secs, Count: n, Rate: float64(n) / secs, Errors: errs}
	if lastErr != nil {
		r.LastErr = lastErr.Error()
	}
	return r, nil
}
