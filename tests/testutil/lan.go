package testutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The "LAN" of a published-port test: the instance's host owns LANHostIP on
// its uplink "uplink", a client namespace owns LANClientIP on the peer
// "uplinkp".
const (
	LANHostIP   = "192.0.2.1"
	LANClientIP = "192.0.2.2"
)

// NewLAN links the instance's host namespace to a new "LAN" client
// namespace by a veth pair (192.0.2.1/24 on the host's "uplink", 192.0.2.2/24
// on the client's "uplinkp") and returns the client namespace. bpfnet
// attaches its uplink program to "uplink" on its next command.
func NewLAN(t testing.TB, in *Instance) string {
	t.Helper()
	lan := NewNetns(t, in.Dir, "lan", nil)
	if err := AddVeth(in.HostNetns, "uplink", LANHostIP+"/24", lan, LANClientIP+"/24"); err != nil {
		t.Fatal(err)
	}
	return lan
}

// Server is an echo server ("tcp" or "udp") on a fixed address that records
// the peer of every connection or datagram: what a server sees as source.
type Server struct {
	Addr  string
	c     io.Closer
	mu    sync.Mutex
	peers []netip.AddrPort
}

// Serve starts a recording echo server on addr in the namespace at path,
// closed when the test ends.
func Serve(t testing.TB, path, network, addr string) *Server {
	t.Helper()
	s := &Server{Addr: addr}
	err := kernel.DoPath(path, func() error {
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			s.c = pc
			go s.echoPackets(pc)
			return nil
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		s.c = l
		go s.acceptEcho(l)
		return nil
	})
	if err != nil {
		t.Fatalf("%s server on %s: %v", network, addr, err)
	}
	t.Cleanup(func() { s.c.Close() })
	return s
}

func (s *Server) record(a net.Addr) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	s.mu.Lock()
	s.peers = append(s.peers, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	s.mu.Unlock()
}

func (s *Server) acceptEcho(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		s.record(conn.RemoteAddr())
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(Scale(30 * time.Second)))
			_, _ = io.Copy(conn, conn)
		}()
	}
}

func (s *Server) echoPackets(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.record(from)
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// Peers returns the peers seen so far, oldest first.
func (s *Server) Peers() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.peers...)
}

// PeerIPs returns the distinct peer addresses seen so far.
func (s *Server) PeerIPs() []string {
	var out []string
	seen := map[netip.Addr]bool{}
	for _, p := range s.Peers() {
		if !seen[p.Addr()] {
			seen[p.Addr()] = true
			out = append(out, p.Addr().String())
		}
	}
	return out
}

// UDPExchange sends a datagram from an unconnected socket in the namespace
// at path to addr, up to four times within timeout, and returns the source
// of the first datagram that echoes it: where the answer appears to come
// from. No answer is ErrNoAnswer; an ICMP port unreachable is not seen by an
// unconnected socket and so is no answer either.
func UDPExchange(path, addr string, timeout time.Duration) (netip.AddrPort, error) {
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var pc net.PacketConn
	if err := kernel.DoPath(path, func() (err error) { pc, err = net.ListenPacket("udp4", "0.0.0.0:0"); return err }); err != nil {
		return netip.AddrPort{}, err
	}
	defer pc.Close()
	msg := fmt.Appendf(nil, "bpfnet-e2e udp-exchange %d", time.Now().UnixNano())
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for try := 0; try < 4; try++ {
		if _, err := pc.WriteTo(msg, net.UDPAddrFromAddrPort(to)); err != nil {
			return netip.AddrPort{}, fmt.Errorf("udp send to %s: %w", addr, err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(time.Until(deadline) / time.Duration(4-try)))
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if !isTimeout(err) {
					return netip.AddrPort{}, fmt.Errorf("udp read after sending to %s: %w", addr, err)
				}
				break
			}
			if string(buf[:n]) == string(msg) {
				ap := from.(*net.UDPAddr).AddrPort()
				return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("udp to %s: %w within %v", addr, ErrNoAnswer, timeout)
}

// Blocked tells whether err, from Echo, says that nothing answered or that
// the host refused (a TCP reset or ICMP port unreachable from the host's
// own stack, where nothing listens): either way no server was reached.
func Blocked(err error) bool {
	return errors.Is(err, ErrNoAnswer) || errors.Is(err, unix.ECONNREFUSED)
}

// UDPDatagram builds a UDP header (checksum 0, which IPv4 allows) before
// payload.
func UDPDatagram(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// MapEntries counts the entries of the instance's pinned map name.
func (in *Instance) MapEntries(name string) int {
	in.t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", name), nil)
	if err != nil {
		in.t.Fatalf("open pinned map %s: %v", name, err)
	}
	defer m.Close()
	n := 0
	var key []byte
	for {
		var next []byte
		var err error
		if n == 0 {
			err = m.NextKey(nil, &next)
		} else {
			err = m.NextKey(key, &next)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			in.t.Fatalf("iterate map %s: %v", name, err)
		}
		key = next
		n++
	}
	return n
}
