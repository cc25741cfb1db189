package testutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// The kernel as the crash tests see it, read without the CLI: what the
// instance's maps, host namespace and container namespaces really hold,
// to hold against what the store says.

// mapKeys returns the raw keys of the instance's pinned map name; a map
// that is not pinned has none.
func (in *Instance) mapKeys(name string) ([][]byte, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(in.Root, "bpffs", name), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", name, err)
	}
	defer m.Close()
	var keys [][]byte
	var key []byte
	for {
		next := make([]byte, m.KeySize())
		var err error
		if key == nil {
			err = m.NextKey(nil, &next)
		} else {
			err = m.NextKey(key, &next)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("iterate map %s: %w", name, err)
		}
		keys = append(keys, next)
		key = next
	}
}

// PortEntries lists the published ports in the datapath's bpfnet_ports
// map, sorted, as "HOSTIP:PORT/PROTO" (0.0.0.0 for every address): what
// the LAN can reach, whatever the store says.
func (in *Instance) PortEntries() ([]string, error) {
	keys, err := in.mapKeys("bpfnet_ports")
	var out []string
	for _, k := range keys {
		if len(k) < 7 { // struct port_key: host_ip, host_port (network order), proto, pad
			return nil, fmt.Errorf("bpfnet_ports key of %d bytes", len(k))
		}
		proto := map[byte]string{6: "tcp", 17: "udp"}[k[6]]
		if proto == "" {
			proto = fmt.Sprintf("proto%d", k[6])
		}
		ip := netip.AddrFrom4([4]byte(k[0:4]))
		out = append(out, fmt.Sprintf("%v:%d/%s", ip, binary.BigEndian.Uint16(k[4:6]), proto))
	}
	sort.Strings(out)
	return out, err
}

// EndpointEntries lists the addresses the datapath's bpfnet_endpoints map
// delivers to, sorted.
func (in *Instance) EndpointEntries() ([]string, error) {
	keys, err := in.mapKeys("bpfnet_endpoints")
	var out []string
	for _, k := range keys {
		if len(k) != 4 {
			return nil, fmt.Errorf("bpfnet_endpoints key of %d bytes", len(k))
		}
		out = append(out, netip.AddrFrom4([4]byte(k)).String())
	}
	sort.Strings(out)
	return out, err
}

// Veths lists the veth devices of the namespace at path, sorted.
func Veths(path string) ([]string, error) {
	h, err := kernel.Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Type() == "veth" {
			out = append(out, l.Attrs().Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// IfAddrs lists "IFNAME=ADDR/LEN" for every IPv4 address of every device
// but lo in the namespace at path, sorted.
func IfAddrs(path string) ([]string, error) {
	h, err := kernel.Handle(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Attrs().Name == "lo" {
			continue
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			out = append(out, l.Attrs().Name+"="+a.IPNet.String())
		}
	}
	sort.Strings(out)
	return out, nil
}

// TagServer is a TCP server in a namespace that answers every connection
// with its tag and closes it: a probe learns which namespace it reached.
type TagServer struct{ l net.Listener }

// ServeTag starts a TagServer on addr in the namespace at path.
func ServeTag(path, addr, tag string) (*TagServer, error) {
	var l net.Listener
	err := InNetns(path, func() (err error) { l, err = net.Listen("tcp4", addr); return err })
	if err != nil {
		return nil, fmt.Errorf("tag server on %s in %s: %w", addr, path, err)
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, tag+"\n")
			conn.Close()
		}
	}()
	return &TagServer{l: l}, nil
}

// Close stops the server.
func (s *TagServer) Close() error { return s.l.Close() }

// ReadTag connects from the namespace at path to addr and returns the tag
// a TagServer there sent. Nothing reached is an error that Blocked
// recognises (no answer, or refused).
func ReadTag(path, addr string, timeout time.Duration) (string, error) {
	conn, err := Dial(path, "tcp", addr, timeout)
	if err != nil {
		if isTimeout(err) {
			return "", fmt.Errorf("tcp connect to %s: %w (%v)", addr, ErrNoAnswer, err)
		}
		return "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(conn)
	if err != nil && len(b) == 0 {
		if isTimeout(err) {
			return "", fmt.Errorf("read from %s: %w", addr, ErrNoAnswer)
		}
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return strings.TrimSpace(string(b)), nil
}
