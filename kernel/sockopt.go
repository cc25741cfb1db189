package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SockoptUint64 reads a 64-bit socket option (SO_COOKIE, SO_NETNS_COOKIE),
// which x/sys/unix has no call for.
func SockoptUint64(fd, opt int) (uint64, error) {
	var v uint64
	size := uint32(unsafe.Sizeof(v))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, uintptr(opt),
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, errno
	}
	return v, nil
}
