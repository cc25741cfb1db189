package e2e

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// What the crash tests compare: the store as the CLI shows it, and the
// kernel as the test reads it without the CLI. The invariants of issue 9
// (no orphan, no port without a record, no interface without programs, no
// address given twice) are stated on both.

// notContainerVeths are the host namespace's veths that are not container
// endpoints: the gateway device and the test's LAN uplink.
var notContainerVeths = []string{"bpfnet0", "bpfnet0p", "uplink"}

// crashState is what an interrupted command may leave behind, without IDs
// or generated names, so that the state after a repair compares with the
// state before the command and with the state after a successful run.
type crashState struct {
	Networks    []string // network ls (store)
	Containers  []string // container ls (store)
	Endpoints   []string // CONTAINER/NETWORK=IP from stats (store)
	Ports       []string // CONTAINER: MAPPING from port (store)
	Gateways    []string // addresses on bpfnet0 (kernel)
	NetnsFiles  []string // the instance's namespace files (kernel)
	Veths       int      // container veths in the host namespace (kernel)
	PortMap     []string // bpfnet_ports keys (kernel)
	EndpointMap []string // bpfnet_endpoints keys (kernel)
}

// storeView is what the store holds, read through the CLI.
type storeView struct {
	networks   []networkInspect
	containers []*tu.Container
	stats      []tu.EndpointStats
	ports      map[string][]string // container -> `port` lines
}

func readStore(t *testing.T, in *tu.Instance) storeView {
	t.Helper()
	var v storeView
	if nets := in.Names("network"); len(nets) > 0 {
		in.MustJSON(&v.networks, append([]string{"network", "inspect"}, nets...)...)
	}
	if ctrs := in.Names("container"); len(ctrs) > 0 {
		in.MustJSON(&v.containers, append([]string{"container", "inspect"}, ctrs...)...)
	}
	in.MustJSON(&v.stats, "stats", "--format", "json")
	v.ports = map[string][]string{}
	for _, c := range v.containers {
		c.Name = strings.TrimPrefix(c.Name, "/") // Docker's "/NAME"
		out := strings.TrimSpace(in.MustRun("port", c.Name))
		if out != "" {
			v.ports[c.Name] = strings.Split(out, "\n")
		}
	}
	return v
}

func takeCrashState(t *testing.T, in *tu.Instance) crashState {
	t.Helper()
	v := readStore(t, in)
	var s crashState
	for _, n := range v.networks {
		s.Networks = append(s.Networks, n.Name)
	}
	for _, c := range v.containers {
		s.Containers = append(s.Containers, c.Name)
		for _, line := range v.ports[c.Name] {
			s.Ports = append(s.Ports, c.Name+": "+line)
		}
	}
	for _, st := range v.stats {
		s.Endpoints = append(s.Endpoints, st.Container+"/"+st.Network+"="+st.Endpoint.IP)
	}
	var err error
	if s.Gateways, err = tu.AddrsOf(in.HostNetns, "bpfnet0"); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	s.NetnsFiles = in.NetnsFiles()
	s.Veths = len(containerVeths(t, in))
	if s.PortMap, err = in.PortEntries(); err != nil {
		t.Fatal(err)
	}
	if s.EndpointMap, err = in.EndpointEntries(); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][]string{s.Networks, s.Containers, s.Endpoints, s.Ports, s.Gateways, s.NetnsFiles} {
		sort.Strings(l)
	}
	return s
}

// diff describes the fields in which a and b differ.
func (a crashState) diff(b crashState) string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("  %s: %v vs %v", va.Type().Field(i).Name, va.Field(i), vb.Field(i)))
		}
	}
	return strings.Join(out, "\n")
}

func (a crashState) equal(b crashState) bool { return reflect.DeepEqual(a, b) }

// containerVeths lists the host namespace's veths but the gateway device
// and the LAN uplink.
func containerVeths(t *testing.T, in *tu.Instance) []string {
	t.Helper()
	all, err := tu.Veths(in.HostNetns)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range all {
		if !slices.Contains(notContainerVeths, name) {
			out = append(out, name)
		}
	}
	return out
}

// checkConsistent asserts that `system check` says ok and that it is
// right: the kernel holds exactly what the store says, both ways. It
// returns false if it found a problem.
// hostPorts are the host ports the test may have published (all on
// 0.0.0.0, to container port 80/tcp); lan ("" for none) is the LAN client
// namespace that probes them. where prefixes every failure.
func checkConsistent(t *testing.T, in *tu.Instance, lan string, hostPorts []int, where string) bool {
	t.Helper()
	ok := true
	if r := in.Run("system", "check"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("%s: system check: want exit 0 and \"ok\"; got %v", where, r)
		ok = false
	}
	return checkKernelMatchesStore(t, in, lan, hostPorts, where) && ok
}

// checkKernelMatchesStore is checkConsistent without `system check`: the
// test's own comparison of the kernel with the store.
func checkKernelMatchesStore(t *testing.T, in *tu.Instance, lan string, hostPorts []int, where string) bool {
	t.Helper()
	problems := 0
	fail := func(format string, args ...any) {
		t.Helper()
		problems++
		t.Errorf(format, args...)
	}
	v := readStore(t, in)
	netnsDir := filepath.Join(in.Root, "netns")

	// Gateways: bpfnet0 holds exactly the bridge networks' gateways.
	var wantGW []string
	for _, n := range v.networks {
		for _, cfg := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil && cfg.Gateway != "" {
				wantGW = append(wantGW, cfg.Gateway+"/"+strconv.Itoa(p.Bits()))
			}
		}
	}
	gotGW, _ := tu.AddrsOf(in.HostNetns, "bpfnet0")
	sort.Strings(wantGW)
	sort.Strings(gotGW)
	if !slices.Equal(gotGW, wantGW) {
		fail("%s: gateway addresses on bpfnet0 %v, but the store's networks have %v", where, gotGW, wantGW)
	}

	// Namespace files: one per container whose namespace bpfnet made.
	storeIPs := map[string][]string{} // namespace file -> the store's addresses of its container
	var wantFiles, allIPs []string
	owner := map[string]string{} // address -> container
	for _, c := range v.containers {
		for _, ep := range c.Settings.Networks {
			if ep.IPAddress == "" {
				continue
			}
			allIPs = append(allIPs, ep.IPAddress)
			if other, dup := owner[ep.IPAddress]; dup {
				fail("%s: address %s given to both %s and %s", where, ep.IPAddress, other, c.Name)
			}
			owner[ep.IPAddress] = c.Name
		}
		if filepath.Dir(c.Netns()) == netnsDir {
			base := filepath.Base(c.Netns())
			wantFiles = append(wantFiles, base)
			storeIPs[base] = []string{}
			for _, ep := range c.Settings.Networks {
				if ep.IPAddress != "" {
					storeIPs[base] = append(storeIPs[base], ep.IPAddress)
				}
			}
		}
	}
	files := in.NetnsFiles()
	sort.Strings(wantFiles)
	if !slices.Equal(files, wantFiles) {
		fail("%s: namespace files %v in %s, but the store's containers have %v", where, files, netnsDir, wantFiles)
	}

	// Addresses inside each namespace: exactly its container's, and no
	// address twice, also in a namespace the store does not know.
	inKernel := map[string]string{}
	for _, f := range files {
		addrs, err := tu.IfAddrs(filepath.Join(netnsDir, f))
		if err != nil {
			fail("%s: addresses in namespace %s: %v", where, f, err)
			continue
		}
		var got []string
		for _, a := range addrs {
			_, cidr, _ := strings.Cut(a, "=")
			ip, _, _ := strings.Cut(cidr, "/")
			got = append(got, ip)
			if other, dup := inKernel[ip]; dup {
				fail("%s: address %s is on two interfaces: in namespace %s and in namespace %s", where, ip, other, f)
			}
			inKernel[ip] = f
		}
		want := storeIPs[f]
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			fail("%s: namespace %s holds addresses %v, the store says %v", where, f, addrs, want)
		}
	}
	eps, err := in.EndpointEntries()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(allIPs)
	if !slices.Equal(eps, allIPs) {
		fail("%s: the datapath's bpfnet_endpoints holds %v, the store's endpoints are %v", where, eps, allIPs)
	}

	// Host veths: each is an endpoint of the store, with its programs.
	wantVeths := map[string]bool{}
	for _, st := range v.stats {
		wantVeths[st.Endpoint.HostIfname] = true
	}
	veths := containerVeths(t, in)
	for _, name := range veths {
		if !wantVeths[name] {
			fail("%s: host veth %s belongs to no endpoint of the store", where, name)
		}
		if progs := in.AttachedPrograms(name); len(progs["tc ingress"])+len(progs["tcx ingress"]) == 0 ||
			len(progs["tc egress"])+len(progs["tcx egress"]) == 0 {
			fail("%s: host veth %s has programs %v, want one on ingress and one on egress", where, name, progs)
		}
	}
	for name := range wantVeths {
		if !slices.Contains(veths, name) {
			fail("%s: the store's endpoint veth %s is missing from the host", where, name)
		}
	}

	// Published ports: the datapath holds exactly the store's mappings.
	var wantPorts []string
	listed := map[int]string{} // host port -> container
	for c, lines := range v.ports {
		for _, line := range lines {
			private, public, ok := strings.Cut(line, " -> ")
			_, proto, _ := strings.Cut(private, "/")
			if !ok {
				fail("%s: port %s: unreadable line %q", where, c, line)
				continue
			}
			wantPorts = append(wantPorts, public+"/"+proto)
			if ap, err := netip.ParseAddrPort(public); err == nil && proto == "tcp" {
				listed[int(ap.Port())] = c
			}
		}
	}
	gotPorts, err := in.PortEntries()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(wantPorts)
	if !slices.Equal(gotPorts, wantPorts) {
		fail("%s: the datapath's bpfnet_ports holds %v, the store publishes %v", where, gotPorts, wantPorts)
	}
	if lan != "" && !checkPortsFromLAN(t, in, lan, hostPorts, listed, where) {
		problems++
	}
	return problems == 0
}

// checkPortsFromLAN runs a server on port 80 in every namespace file of the
// instance (the store's containers and any orphan) that answers with the
// file's name, and probes hostPorts from the LAN: a port the store lists
// must reach its container; any other must reach nothing.
func checkPortsFromLAN(t *testing.T, in *tu.Instance, lan string, hostPorts []int, listed map[int]string, where string) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}
	for _, f := range in.NetnsFiles() {
		srv, err := tu.ServeTag(filepath.Join(in.Root, "netns", f), ":80", f)
		if err != nil {
			fail("%s: %v", where, err)
			continue
		}
		defer srv.Close()
	}
	tags := make([]string, len(hostPorts))
	errs := make([]error, len(hostPorts))
	var wg sync.WaitGroup
	for i, port := range hostPorts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tags[i], errs[i] = tu.ReadTag(lan, hostAddr(tu.LANHostIP, port), silentFor)
		}()
	}
	wg.Wait()
	for i, port := range hostPorts {
		owner, isListed := listed[port]
		switch {
		case errs[i] != nil && !tu.Blocked(errs[i]):
			fail("%s: LAN -> %d: %v", where, port, errs[i])
		case isListed && errs[i] != nil:
			fail("%s: LAN -> %d, published by %s: %v", where, port, owner, errs[i])
		case isListed && tags[i] != owner:
			fail("%s: LAN -> %d, published by %s, reached namespace %q", where, port, owner, tags[i])
		case !isListed && errs[i] == nil:
			fail("%s: LAN -> %d reached namespace %q, but no container lists the port (bpfnet port)", where, port, tags[i])
		}
	}
	return ok
}

// crashed tells whether r shows a Go panic or runtime crash.
func crashed(r tu.Result) bool {
	return r.Code == 2 || strings.Contains(r.Stderr, "panic:") || strings.Contains(r.Stderr, "goroutine ") ||
		strings.Contains(r.Stderr, "fatal error:")
}

// noPanic fails the test if r shows a Go panic or runtime crash, and
// returns false then.
func noPanic(t *testing.T, r tu.Result, where string) bool {
	t.Helper()
	if crashed(r) {
		t.Errorf("%s: the command crashed: %s", where, brief(r))
		return false
	}
	return true
}

// brief is r's exit and the start of its stderr: a crash's first lines
// (the panic and the frames nearest to it), not its every goroutine.
func brief(r tu.Result) string {
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) > 12 {
		lines = append(lines[:12], fmt.Sprintf("... (%d more lines)", len(lines)-12))
	}
	out := fmt.Sprintf("bpfnet %s: exit %d", strings.Join(r.Args, " "), r.Code)
	if s := strings.TrimSpace(r.Stdout); s != "" {
		first, rest, _ := strings.Cut(s, "\n")
		if len(first) > 120 || rest != "" {
			first = first[:min(len(first), 120)] + " ..."
		}
		out += "\n    stdout: " + first
	}
	return out + "\n    stderr: " + strings.Join(lines, "\n    ")
}
