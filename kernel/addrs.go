package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// AddrsByLink is every IPv4 address of the calling thread's namespace, by
// link index, each link's in the kernel's order (its primary address
// first). A dump of all addresses visits every link, and a host has a
// veth per container; so the local routing table, which has a route per
// address, says which links hold addresses, and only those are asked for
// theirs. Both dumps are filtered by the kernel (strict checking, 4.20+).
func AddrsByLink() (map[int][]netip.Addr, error) {
	return RetryDump(addrsByLink)
}

func addrsByLink() (map[int][]netip.Addr, error) {
	s, err := strictRouteSocket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(s)
	holders := map[int]bool{}
	local := &nl.RtMsg{RtMsg: unix.RtMsg{Family: unix.AF_INET, Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL}}
	err = dumpStrict(s, unix.RTM_GETROUTE, local, func(data []byte) error {
		msg := nl.DeserializeRtMsg(data)
		if msg.Table != unix.RT_TABLE_LOCAL || msg.Type != unix.RTN_LOCAL {
			return nil
		}
		attrs, err := nl.ParseRouteAttr(data[msg.Len():])
		for _, a := range attrs {
			if a.Attr.Type == unix.RTA_OIF && len(a.Value) == 4 {
				holders[int(binary.NativeEndian.Uint32(a.Value))] = true
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list local routes: %w", err)
	}
	out := map[int][]netip.Addr{}
	for index := range holders {
		req := nl.NewIfAddrmsg(unix.AF_INET)
		req.Index = uint32(index)
		err := dumpStrict(s, unix.RTM_GETADDR, req, func(data []byte) error {
			msg := nl.DeserializeIfAddrmsg(data)
			if int(msg.Index) != index {
				return nil
			}
			attrs, err := nl.ParseRouteAttr(data[msg.Len():])
			var addr, local netip.Addr
			for _, a := range attrs {
				ip, ok := netip.AddrFromSlice(a.Value)
				switch {
				case !ok:
				case a.Attr.Type == unix.IFA_LOCAL:
					local = ip
				case a.Attr.Type == unix.IFA_ADDRESS:
					addr = ip
				}
			}
			if local.IsValid() {
				addr = local // the peer's on point-to-point links is IFA_ADDRESS
			}
			if addr.IsValid() {
				out[index] = append(out[index], addr.Unmap())
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list addresses of link %d: %w", index, err)
		}
	}
	return out, nil
}

// strictRouteSocket is a NETLINK_ROUTE socket of the calling thread's
// namespace whose dumps honour the filters in their requests.
func strictRouteSocket() (int, error) {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.SetsockoptInt(s, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		unix.Close(s)
		return -1, fmt.Errorf("netlink strict checking: %w", err)
	}
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(s)
		return -1, fmt.Errorf("bind netlink socket: %w", err)
	}
	return s, nil
}

// dumpStrict sends a dump request of kind with header hdr on s and hands
// each message's payload to each; an interrupted dump is
// netlink.ErrDumpInterrupted, for RetryDump.
func dumpStrict(s int, kind int, hdr nl.NetlinkRequestData, each func([]byte) error) error {
	req := nl.NewNetlinkRequest(kind, unix.NLM_F_DUMP)
	req.AddData(hdr)
	if err := unix.Sendto(s, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	interrupted := false
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue
			}
			interrupted = interrupted || m.Header.Flags&unix.NLM_F_DUMP_INTR != 0
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if interrupted {
					return netlink.ErrDumpInterrupted
				}
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
						return syscall.Errno(-errno)
					}
				}
				return nil
			}
			if err := each(m.Data); err != nil {
				return err
			}
		}
	}
}
