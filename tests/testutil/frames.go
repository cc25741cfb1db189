package testutil

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// EthernetFrame builds dst, src, ethertype and payload into a frame padded
// to the Ethernet minimum.
func EthernetFrame(dst, src net.HardwareAddr, ethertype uint16, payload []byte) []byte {
	return frames.Pad(frames.Ether(dst, src, ethertype, payload))
}

// IPv4Packet builds an IPv4 header (no options, a random identification,
// checksum set) before payload.
func IPv4Packet(src, dst string, proto byte, payload []byte) []byte {
	h := frames.IPv4{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, ID: uint16(rand.Uint32())}
	return h.Packet(payload)
}

// ARPRequest builds an Ethernet/IPv4 ARP request "who has target, tell sender".
func ARPRequest(senderMAC net.HardwareAddr, senderIP, targetIP string) []byte {
	p := frames.ARP(frames.ARPHwEther, frames.ARPOpRequest, senderMAC, netip.MustParseAddr(senderIP),
		make(net.HardwareAddr, 6), netip.MustParseAddr(targetIP))
	return EthernetFrame(frames.Broadcast, senderMAC, frames.EtherARP, p)
}

// packetSocket is an AF_PACKET socket for protocol bound to ifname in the
// namespace at path.
func packetSocket(path, ifname string, proto uint16) (int, int, error) {
	l, err := LinkByName(path, ifname)
	if err != nil {
		return -1, 0, err
	}
	ifindex := l.Attrs().Index
	p := int(htons(proto))
	fd, err := socketIn(path, unix.AF_PACKET, unix.SOCK_RAW, p)
	if err != nil {
		return -1, 0, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("bind packet socket to %s: %w", ifname, err)
	}
	return fd, ifindex, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// SendFrame writes a crafted Ethernet frame out of ifname in the namespace
// at path, as a container with CAP_NET_RAW can.
func SendFrame(path, ifname string, frame []byte) error {
	fd, ifindex, err := packetSocket(path, ifname, unix.ETH_P_ALL)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		return fmt.Errorf("send frame on %s: %w", ifname, err)
	}
	return nil
}

// ResolveARP sends an ARP request for targetIP out of ifname and returns
// the MAC of the first reply, or ErrNoAnswer after timeout.
func ResolveARP(path, ifname string, senderMAC net.HardwareAddr, senderIP, targetIP string, timeout time.Duration) (net.HardwareAddr, error) {
	fd, _, err := packetSocket(path, ifname, unix.ETH_P_ARP)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := SendFrame(path, ifname, ARPRequest(senderMAC, senderIP, targetIP)); err != nil {
		return nil, err
	}
	target := netip.MustParseAddr(targetIP).As4()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(timeout)
	for waitReadable(fd, deadline) {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil || n < 42 {
			continue
		}
		arp := buf[14:n]
		if binary.BigEndian.Uint16(arp[6:]) == 2 && bytes.Equal(arp[14:18], target[:]) {
			return net.HardwareAddr(bytes.Clone(arp[8:14])), nil
		}
	}
	return nil, fmt.Errorf("arp who-has %s: %w within %v", targetIP, ErrNoAnswer, timeout)
}

// SendRawIPv4 sends a hand-built IPv4 packet (IP_HDRINCL) from the
// namespace at path: the kernel routes it by its destination and keeps the
// source address as written.
func SendRawIPv4(path string, packet []byte) error {
	fd, err := socketIn(path, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	var dst [4]byte
	copy(dst[:], packet[16:20])
	if err := unix.Sendto(fd, packet, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		return fmt.Errorf("send raw IPv4 packet: %w", err)
	}
	return nil
}

// Sniffer records the frames a device receives, as a capture on the
// receiver does: frames the namespace itself sends are left out.
type Sniffer struct {
	fd     int
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	frames [][]byte
}

// Sniff starts recording what ifname in the namespace at path receives.
func Sniff(path, ifname string) (*Sniffer, error) {
	fd, _, err := packetSocket(path, ifname, unix.ETH_P_ALL)
	if err != nil {
		return nil, err
	}
	s := &Sniffer{fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

func (s *Sniffer) run() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		stopping := false
		select {
		case <-s.stop:
			stopping = true // take what is queued, then end
		default:
			if !waitReadable(s.fd, time.Now().Add(50*time.Millisecond)) {
				continue
			}
		}
		n, from, err := unix.Recvfrom(s.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			if stopping {
				return
			}
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		s.mu.Lock()
		s.frames = append(s.frames, bytes.Clone(buf[:n]))
		s.mu.Unlock()
	}
}

// Stop ends the capture and returns the frames received.
func (s *Sniffer) Stop() [][]byte {
	close(s.stop)
	<-s.done
	unix.Close(s.fd)
	return s.frames
}

// IsARPReply tells whether frame is an ARP reply, which a receiver gets
// for its own requests (neighbour probes answered by the datapath).
func IsARPReply(frame []byte) bool {
	return len(frame) >= 22 && binary.BigEndian.Uint16(frame[12:]) == 0x0806 && binary.BigEndian.Uint16(frame[20:]) == 2
}

// Describe summarises a frame: "IPv4 src > dst proto N", "ARP op N" or
// the ethertype.
func Describe(frame []byte) string {
	if len(frame) < 14 {
		return fmt.Sprintf("runt frame of %d bytes", len(frame))
	}
	switch et := binary.BigEndian.Uint16(frame[12:]); {
	case et == 0x0800 && len(frame) >= 34:
		src, _ := netip.AddrFromSlice(frame[26:30])
		dst, _ := netip.AddrFromSlice(frame[30:34])
		return fmt.Sprintf("IPv4 %v > %v proto %d", src, dst, frame[23])
	case et == 0x0806 && len(frame) >= 22:
		return fmt.Sprintf("ARP op %d from %v", binary.BigEndian.Uint16(frame[20:]), net.HardwareAddr(frame[6:12]))
	default:
		return fmt.Sprintf("ethertype %#04x from %v", et, net.HardwareAddr(frame[6:12]))
	}
}

// CountIPv4 counts the IPv4 packets from src to dst among frames.
func CountIPv4(frames [][]byte, src, dst string) int {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	n := 0
	for _, f := range frames {
		if len(f) >= 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && bytes.Equal(f[26:30], s[:]) && bytes.Equal(f[30:34], d[:]) {
			n++
		}
	}
	return n
}
