package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/store"
)

// mapping is a fixed host port as ports.Assign returns it; ip "" is all
// addresses.
func mapping(ip string, host, ctr uint16, proto ports.Proto) ports.Mapping {
	m := ports.Mapping{HostPort: host, HostPortEnd: host, ContainerPort: ctr, Proto: proto}
	if ip != "" {
		m.HostIP = netip.MustParseAddr(ip)
	}
	return m
}

type portSet = map[string][]ports.Mapping

// hasPorts checks Ports and HasPorts of ctrID, in any order.
func hasPorts(t *testing.T, s store.Store, ctrID string, want ...ports.Mapping) {
	t.Helper()
	got, err := s.Ports(ctrID)
	if err != nil {
		t.Fatalf("Ports(%.4s): %v", ctrID, err)
	}
	byText := func(a, b ports.Mapping) int {
		x, _ := a.MarshalText()
		y, _ := b.MarshalText()
		return slices.Compare(x, y)
	}
	got, want = slices.SortedFunc(slices.Values(got), byText), slices.SortedFunc(slices.Values(want), byText)
	if !slices.Equal(got, want) {
		t.Errorf("Ports(%.4s) = %s, want %s", ctrID, fields(got), fields(want))
	}
	if has, err := s.HasPorts(ctrID); err != nil || has != (len(want) > 0) {
		t.Errorf("HasPorts(%.4s) = %v, %v; want %v", ctrID, has, err, len(want) > 0)
	}
}

// fields shows what String leaves out: a zero and an explicit 0.0.0.0 both
// print as 0.0.0.0.
func fields(ms []ports.Mapping) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[%v HostIP=%v HostPortEnd=%d] ", m, m.HostIP, m.HostPortEnd)
	}
	return b.String()
}

// indexIs checks that WithPortIndex answers as a list of all would.
func indexIs(t *testing.T, s store.Store, all ...ports.Mapping) {
	t.Helper()
	list := ports.Mappings(all)
	addrs := []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")}
	probes := []uint16{1, 80, 65535}
	for _, m := range all {
		probes = append(probes, m.HostPort-1, m.HostPort, m.HostPort+1)
	}
	slices.Sort(probes)
	probes = slices.Compact(probes)
	ranges := [][2]uint16{{1, 65535}, {0, 65535}, {40000, 40003}, {40003, 40010}, {1, 8080}, {8081, 9090}, {50000, 60000}}
	err := s.WithPortIndex(func(held ports.Held) error {
		for _, proto := range []ports.Proto{ports.TCP, ports.UDP} {
			for _, ip := range addrs {
				for _, port := range probes {
					if got, want := held.Holds(ip, port, proto), list.Holds(ip, port, proto); got != want {
						t.Errorf("Holds(%v, %d, %s) = %v, want %v", ip, port, proto, got, want)
					}
				}
				for _, r := range ranges {
					if got, want := held.Highest(ip, proto, r[0], r[1]), list.Highest(ip, proto, r[0], r[1]); got != want {
						t.Errorf("Highest(%v, %s, %d-%d) = %d, want %d", ip, proto, r[0], r[1], got, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var (
	web8080  = mapping("", 8080, 80, ports.TCP)
	web9090  = mapping("127.0.0.1", 9090, 90, ports.UDP)
	web40002 = mapping("", 40002, 81, ports.TCP)
	api8080  = mapping("192.0.2.1", 8080, 80, ports.UDP)
	api40004 = mapping("192.0.2.1", 40004, 80, ports.TCP)
)

// Ports and HasPorts follow additions, removals and container deletion.
func testPorts(t *testing.T, s store.Store) {
	web, api := id("c1"), id("c2")
	hasPorts(t, s, web)
	apply(t, s, puts(container(web, "web"), container(api, "api")))
	hasPorts(t, s, web)
	apply(t, s, store.Change{AddPorts: portSet{web: {web8080, web9090}, api: {api8080}}})
	apply(t, s, store.Change{AddPorts: portSet{web: {web40002}, api: {api40004}}})
	hasPorts(t, s, web, web8080, web9090, web40002)
	hasPorts(t, s, api, api8080, api40004)

	apply(t, s, store.Change{RemovePorts: portSet{web: {web8080}}})
	hasPorts(t, s, web, web9090, web40002)
	apply(t, s, store.Change{RemovePorts: portSet{web: {web9090, web40002}}})
	hasPorts(t, s, web)
	apply(t, s, store.Change{DeleteContainers: []string{api}})
	hasPorts(t, s, api)
	// Removing what is not there is no error.
	apply(t, s, store.Change{RemovePorts: portSet{web: {web8080}, api: {api8080}}})

	// An explicit 0.0.0.0 comes back as all addresses, the form ports.Parse
	// gives, so that equal mappings compare equal.
	apply(t, s, store.Change{AddPorts: portSet{web: {mapping("0.0.0.0", 8080, 80, ports.TCP)}}})
	hasPorts(t, s, web, web8080)
}

// The port index answers Holds and Highest as the list of every mapping.
func testPortIndex(t *testing.T, s store.Store) {
	web, api := id("c1"), id("c2")
	indexIs(t, s)
	apply(t, s, store.Change{AddPorts: portSet{web: {web8080, web9090, web40002}, api: {api8080, api40004}}})
	indexIs(t, s, web8080, web9090, web40002, api8080, api40004)
	apply(t, s, store.Change{RemovePorts: portSet{web: {web8080}}})
	indexIs(t, s, web9090, web40002, api8080, api40004)
	apply(t, s, store.Change{DeleteContainers: []string{api}})
	indexIs(t, s, web9090, web40002)
}

// WithPortIndex returns what fn returns.
func testPortIndexError(t *testing.T, s store.Store) {
	errFn := errors.New("from fn")
	if err := s.WithPortIndex(func(ports.Held) error { return errFn }); !errors.Is(err, errFn) {
		t.Errorf("WithPortIndex returned %v, want fn's error", err)
	}
}

// A host binding (protocol, port, address) belongs to one container:
// Apply refuses to give it to another, and applies nothing of that change.
func testPortHeldByAnother(t *testing.T, s store.Store) {
	web, api, db := id("c1"), id("c2"), id("c3")
	apply(t, s, store.Change{AddPorts: portSet{web: {web8080, web9090}}})
	explicit := mapping("0.0.0.0", 8080, 81, ports.TCP) // the same binding as web8080
	fine := mapping("", 7000, 70, ports.TCP)
	for _, taken := range []ports.Mapping{mapping("", 8080, 81, ports.TCP), explicit, mapping("127.0.0.1", 9090, 91, ports.UDP)} {
		if err := s.Apply(store.Change{AddPorts: portSet{api: {fine, taken}}}); err == nil {
			t.Errorf("api was given %v, which web holds", taken)
		}
	}
	if err := s.Apply(store.Change{AddPorts: portSet{api: {fine}, db: {mapping("", 7000, 71, ports.TCP)}}}); err == nil {
		t.Errorf("api and db were both given 7000/tcp in one change")
	}
	hasPorts(t, s, api)
	hasPorts(t, s, db)
	indexIs(t, s, web8080, web9090)

	// Another protocol or another specific address is another binding, and
	// the holder may add its binding again.
	other := []ports.Mapping{mapping("", 8080, 80, ports.UDP), mapping("192.0.2.1", 9090, 90, ports.UDP)}
	apply(t, s, store.Change{AddPorts: portSet{api: other, web: {web8080}}})
	hasPorts(t, s, api, other...)
	hasPorts(t, s, web, web8080, web9090)
}

// A binding freed by a change can be taken in the same change.
func testPortFreedInSameChange(t *testing.T, s store.Store) {
	web, api, db := id("c1"), id("c2"), id("c3")
	apply(t, s, store.Change{AddPorts: portSet{web: {web8080}}})
	apply(t, s, store.Change{RemovePorts: portSet{web: {web8080}}, AddPorts: portSet{api: {web8080}}})
	hasPorts(t, s, web)
	hasPorts(t, s, api, web8080)
	apply(t, s, store.Change{DeleteContainers: []string{api}, AddPorts: portSet{db: {web8080}}})
	hasPorts(t, s, api)
	hasPorts(t, s, db, web8080)
	indexIs(t, s, web8080)
}

// Removing a binding from a container that does not hold it leaves the
// holder's binding alone (refused or ignored), so no third container can
// take it.
func testRemovePortsOfAnother(t *testing.T, s store.Store) {
	web, api, db := id("c1"), id("c2"), id("c3")
	apply(t, s, store.Change{AddPorts: portSet{web: {web8080}, api: {api8080}}})
	_ = s.Apply(store.Change{RemovePorts: portSet{web: {api8080}}})
	hasPorts(t, s, api, api8080)
	indexIs(t, s, web8080, api8080)
	if err := s.Apply(store.Change{AddPorts: portSet{db: {api8080}}}); err == nil {
		t.Errorf("db was given %v, which api holds", api8080)
	}
}

// Adding no mapping publishes nothing.
func testAddNoPorts(t *testing.T, s store.Store) {
	web := id("c1")
	apply(t, s, store.Change{AddPorts: portSet{web: nil}})
	hasPorts(t, s, web)
	apply(t, s, store.Change{AddPorts: portSet{web: {}}})
	hasPorts(t, s, web)
}
