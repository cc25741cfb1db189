package e2e

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// snapshot is what a failed command must leave as it was.
type snapshot struct {
	Networks, Containers []string // from ls, a new process each
	NetnsFiles           []string // the instance's namespace files
	HostLinks            []string // veths and the gateway device
	Gateways             []string // gateway addresses on bpfnet0
	Inspect              string   // network inspect of every network
	Addresses            []string // container addresses, from stats
}

func takeSnapshot(t *testing.T, in *tu.Instance) snapshot {
	t.Helper()
	s := snapshot{
		Networks: in.Names("network"), Containers: in.Names("container"),
		NetnsFiles: in.NetnsFiles(), HostLinks: in.HostLinks(),
	}
	var err error
	if s.Gateways, err = tu.AddrsOf(in.HostNetns, "bpfnet0"); err != nil {
		t.Fatal(err)
	}
	s.Inspect = in.MustRun(append([]string{"network", "inspect"}, s.Networks...)...)
	var stats []tu.EndpointStats
	in.MustJSON(&stats, "stats", "--format", "json")
	for _, st := range stats {
		s.Addresses = append(s.Addresses, st.Container+"="+st.Endpoint.IP)
	}
	return s
}

// TestFailedOperationsRollBack: every refused command exits 1 with
// Docker's words and changes nothing: no veth, no namespace file, no store
// change, no gateway address, and `system check` still finds the kernel
// and the store in agreement.
func TestFailedOperationsRollBack(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	in.MustRun("network", "create", "--subnet", "10.99.0.0/24", "usernet")
	in.MustRun("network", "create", "--subnet", "10.98.0.0/30", "tiny") // room for one container
	in.MustRun("container", "create", "u1", "--network", "usernet", "--ip", "10.99.0.10")
	in.MustRun("container", "create", "t1", "--network", "tiny")
	in.MustRun("container", "create", "h1", "--network", "host")

	cases := []struct {
		want string
		args []string
	}{
		{"Address already in use", []string{"container", "create", "u2", "--network", "usernet", "--ip", "10.99.0.10"}},
		{"Address already in use", []string{"network", "connect", "--ip", "10.99.0.10", "usernet", "t1"}},
		{"no available addresses on this pool", []string{"container", "create", "t2", "--network", "tiny"}},
		{"no configured subnet or ip-range contain the IP address", []string{"container", "create", "u3", "--network", "usernet", "--ip", "10.97.0.5"}},
		{"user specified IP address is supported only when connecting to networks with user configured subnets", []string{"container", "create", "u4", "--ip", "172.17.0.50"}},
		{"Pool overlaps with other one on this address space", []string{"network", "create", "--subnet", "10.99.0.128/25", "overlap"}},
		{"Pool overlaps with other one on this address space", []string{"network", "create", "--subnet", "172.16.0.0/12", "wide"}},
		{"network nosuch not found", []string{"container", "create", "u5", "--network", "nosuch"}},
		{"network nosuch not found", []string{"network", "connect", "nosuch", "u1"}},
		{"is already in use by container", []string{"container", "create", "u1", "--network", "usernet"}},
		{"is already in use by container", []string{"container", "create", "h1"}},
		{"network with name usernet already exists", []string{"network", "create", "usernet"}},
		{"invalid option", []string{"network", "create", "--opt", "bogus=1", "badopt"}},
		{"invalid value", []string{"network", "create", "--opt", "mtu=12", "badmtu"}},
		{"no matching subnet for gateway", []string{"network", "create", "--subnet", "10.96.0.0/24", "--gateway", "10.95.0.1", "badgw"}},
		{"invalid CIDR", []string{"network", "create", "--subnet", "10.96.0.0/33", "badcidr"}},
		{"already exists in network", []string{"network", "connect", "usernet", "u1"}},
		{"No such container", []string{"network", "connect", "usernet", "ghost"}},
		{"pre-defined network and cannot be removed", []string{"network", "rm", "bridge"}},
		{"has active endpoints", []string{"network", "rm", "usernet"}},
	}
	before := takeSnapshot(t, in)
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := in.Run(c.args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("want exit 1 and %q in stderr; got %v", c.want, r)
			}
			after := takeSnapshot(t, in)
			va, vb := reflect.ValueOf(after), reflect.ValueOf(before)
			for i := range va.NumField() {
				if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
					t.Errorf("%s changed:\nbefore %v\nafter  %v", va.Type().Field(i).Name, vb.Field(i), va.Field(i))
				}
			}
			if out := in.Run("system", "check"); out.Code != 0 || strings.TrimSpace(out.Stdout) != "ok" {
				t.Errorf("system check after the failure: %v", out)
			}
			before = after
		})
	}
	// Nothing was held back by the failures: the refused address and the
	// last free one of the tiny network are still allocatable.
	in.MustRun("container", "rm", "u1", "t1")
	in.MustRun("container", "create", "u2", "--network", "usernet", "--ip", "10.99.0.10")
	in.MustRun("container", "create", "t2", "--network", "tiny")
}

// TestConcurrentNetworkCreate: 20 processes create the same network at
// once on a fresh instance: exactly one succeeds, the others say it
// already exists, and one network results.
func TestConcurrentNetworkCreate(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	const n = 20
	results := make([]tu.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = in.Run("network", "create", "same")
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.Code == 0:
			ok++
		case r.Code != 1 || !strings.Contains(r.Stderr, "network with name same already exists"):
			t.Errorf("unexpected outcome: %v", r)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent creates succeeded, want 1", ok, n)
	}
	if got, want := in.Names("network"), []string{"bridge", "host", "none", "same"}; !reflect.DeepEqual(got, want) {
		t.Errorf("network ls: %v, want %v", got, want)
	}
	if got := inspectNetwork(t, in, "same").IPAM.Config[0].Subnet; got != "172.18.0.0/16" {
		t.Errorf("same got %s, want 172.18.0.0/16", got)
	}
	if out := in.Run("system", "check"); out.Code != 0 {
		t.Errorf("system check: %v", out)
	}
	if gws, _ := tu.AddrsOf(in.HostNetns, "bpfnet0"); len(gws) != 2 {
		t.Errorf("gateway addresses %v, want the bridge's and same's", gws)
	}
}
