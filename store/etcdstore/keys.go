package etcdstore

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpfnet/bpfnet/ctl/ports"
)

// The directories under the store's prefix (doc.go shows the layout). No
// directory's name is the start of another's, so a range over one never
// reads another.
const (
	dirSchema         = "store/"
	dirNetworks       = "networks/"
	dirNetworkNames   = "network-names/"
	dirContainers     = "containers/"
	dirContainerNames = "container-names/"
	dirIPs            = "ips/"
	dirSlots          = "slots/"
	dirPorts          = "ports/"
	dirPublished      = "published/"
	dirMeta           = "meta/"
	dirLock           = "lock" // concurrency.NewMutex adds the "/"
)

// schemaVersion changes when a record or key layout does; Open refuses a
// prefix written with another.
const schemaVersion = "1"

func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, "") }

func (s *Store) networkKey(id string) string   { return s.key(dirNetworks, id) }
func (s *Store) containerKey(id string) string { return s.key(dirContainers, id) }
func (s *Store) ipsDir(networkID string) string {
	return s.key(dirIPs, networkID, "/")
}
func (s *Store) ipKey(networkID string, ip netip.Addr) string {
	return s.ipsDir(networkID) + addrText(ip)
}
func (s *Store) slotKey(slot uint32) string { return s.key(dirSlots, fmt.Sprintf("%010d", slot)) }
func (s *Store) portKey(b string) string    { return s.key(dirPorts, b) }
func (s *Store) publishedDir(containerID string) string {
	return s.key(dirPublished, containerID, "/")
}

// addrText is an IPv4 address with each byte in three digits
// (172.018.000.002): keys sort in address order, and stay readable in
// `etcdctl get --prefix`.
func addrText(ip netip.Addr) string {
	a := ip.Unmap().As4()
	return fmt.Sprintf("%03d.%03d.%03d.%03d", a[0], a[1], a[2], a[3])
}

func parseAddrText(text string) (netip.Addr, error) {
	parts := strings.Split(text, ".")
	var a [4]byte
	if len(parts) != 4 {
		return netip.Addr{}, fmt.Errorf("address key %q is not four bytes", text)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil || len(p) != 3 {
			return netip.Addr{}, fmt.Errorf("address key %q: byte %q is not three digits below 256", text, p)
		}
		a[i] = byte(n)
	}
	return netip.AddrFrom4(a), nil
}

func parseSlot(text string) (uint32, error) {
	n, err := strconv.ParseUint(text, 10, 32)
	if err != nil || len(text) != 10 {
		return 0, fmt.Errorf("slot key %q is not ten digits of a 32-bit number", text)
	}
	return uint32(n), nil
}

// binding is a host binding as keys name it: protocol, port in five digits
// and address, "tcp/08080/000.000.000.000" (0.0.0.0 for all addresses).
// Under one protocol, keys sort by port: the bindings of one port are one
// range.
func binding(m ports.Mapping) string {
	return fmt.Sprintf("%s/%05d/%s", m.Proto, m.HostPort, addrText(ports.BindAddr(m.HostIP)))
}

// parseBinding reads a binding back as the mapping the port index needs
// (the container port is not in it).
func parseBinding(b string) (ports.Mapping, error) {
	parts := strings.Split(b, "/")
	if len(parts) != 3 || (parts[0] != string(ports.TCP) && parts[0] != string(ports.UDP)) || len(parts[1]) != 5 {
		return ports.Mapping{}, fmt.Errorf("host binding key %q is not PROTO/PORT/ADDRESS", b)
	}
	port, err := strconv.ParseUint(parts[1], 10, 16)
	if err != nil {
		return ports.Mapping{}, fmt.Errorf("host binding key %q: %w", b, err)
	}
	ip, err := parseAddrText(parts[2])
	if err != nil {
		return ports.Mapping{}, fmt.Errorf("host binding key %q: %w", b, err)
	}
	if ip.IsUnspecified() {
		ip = netip.Addr{} // all addresses, as ports.Parse gives them
	}
	return ports.Mapping{HostIP: ip, HostPort: uint16(port), HostPortEnd: uint16(port), Proto: ports.Proto(parts[0])}, nil
}

// canonical is m as the store gives it back (through its -p text: an
// explicit 0.0.0.0 becomes all addresses) and its binding.
func canonical(m ports.Mapping) (ports.Mapping, string, []byte, error) {
	text, err := m.MarshalText()
	if err == nil {
		err = m.UnmarshalText(text)
	}
	if err == nil && !ports.BindAddr(m.HostIP).Unmap().Is4() {
		err = fmt.Errorf("host address %s is not IPv4", m.HostIP)
	}
	if err == nil && (m.HostPort == 0 || m.HostPortEnd != m.HostPort) {
		err = fmt.Errorf("the host port is not chosen yet")
	}
	if err != nil {
		return m, "", nil, fmt.Errorf("published port %v: %w", m, err)
	}
	return m, binding(m), text, nil
}
