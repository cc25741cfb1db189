package kernel

import (
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpTries bounds the retries of a netlink dump that the kernel marked
// interrupted: links and addresses changing meanwhile (other instances'
// containers come and go) make a dump inconsistent, not wrong to repeat.
const dumpTries = 5

// RetryDump runs dump again while the kernel reports it interrupted.
func RetryDump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for i := 0; i < dumpTries; i++ {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// LinkList is every link of the calling thread's namespace.
func LinkList() ([]netlink.Link, error) { return RetryDump(netlink.LinkList) }

// AddrList is l's IPv4 addresses (every link's when l is nil).
func AddrList(l netlink.Link) ([]netlink.Addr, error) {
	return RetryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V4) })
}

// MainRoutes is the IPv4 main routing table.
func MainRoutes() ([]netlink.Route, error) {
	return RetryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
}
