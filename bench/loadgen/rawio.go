package main

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The blocking calls of the hot path go through RawSyscall, which does not
// tell the Go scheduler that the thread is in a system call. With the plain
// Syscall, every wait longer than one sysmon tick (20 us) makes sysmon hand
// the P to another thread and keeps sysmon itself waking every 20 us: on the
// one CPU that client and server share, that halved the round-trip rate
// (loadgen 18k/s against 45k/s for a C ping-pong measured alongside). With
// RawSyscall the runtime stays out of the way, like a C program. The price:
// this goroutine holds its P while blocked, so main sets GOMAXPROCS >= 2 for
// timers (the watchdog) to run elsewhere, and a preemption signal may
// interrupt a call; Go installs its handlers with SA_RESTART, so read, write,
// accept and connect are restarted by the kernel, and EINTR is retried here.

func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func rawAccept(fd int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawConnect connects fd to sa and blocks until the handshake completes. A
// call restarted after a signal finds the connection in progress (EALREADY)
// or done (EISCONN); both are handled.
func rawConnect(fd int, sa *unix.SockaddrInet4) error {
	var rsa unix.RawSockaddrInet4
	rsa.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	p[0], p[1] = byte(sa.Port>>8), byte(sa.Port)
	rsa.Addr = sa.Addr
	for {
		_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), unsafe.Sizeof(rsa))
		switch {
		case e == 0, errors.Is(e, unix.EISCONN):
			return nil
		case errors.Is(e, unix.EINTR), errors.Is(e, unix.EALREADY):
			continue
		default:
			return e
		}
	}
}
