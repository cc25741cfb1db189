package e2e

import (
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// portState is what a refused -p must leave as it was.
type portState struct {
	Containers []string          // container ls
	Ports      map[string]string // bpfnet port of each container
	NetnsFiles []string
	HostLinks  []string
	PortsMap   int // entries of the pinned bpfnet_ports map
	Endpoints  int // entries of the pinned bpfnet_endpoints map
}

func takePortState(in *tu.Instance) portState {
	s := portState{Containers: in.Names("container"), Ports: map[string]string{}, NetnsFiles: in.NetnsFiles(),
		HostLinks: in.HostLinks(), PortsMap: in.MapEntries("bpfnet_ports"), Endpoints: in.MapEntries("bpfnet_endpoints")}
	for _, c := range s.Containers {
		s.Ports[c] = in.MustRun("port", c)
	}
	return s
}

// hostListen holds addr ("tcp" or "udp") in the host namespace as a host
// process would, until the test ends.
func hostListen(t *testing.T, in *tu.Instance, network, addr string) {
	t.Helper()
	var c io.Closer
	err := tu.InNetns(in.HostNetns, func() error {
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			c = pc
			return err
		}
		l, err := net.Listen("tcp4", addr)
		c = l
		return err
	})
	if err != nil {
		t.Fatalf("host process on %s/%s: %v", addr, network, err)
	}
	t.Cleanup(func() { c.Close() })
}

// TestBadPortInput: every refused -p (held by a container or by a host
// process, bad range, bad protocol, a range with a taken port in its
// middle) exits 1 with Docker's words and installs nothing: no container,
// no namespace file, no veth, no mapping in `port` or in the datapath.
func TestBadPortInput(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	tu.NewLAN(t, in)
	in.MustRun("network", "create", "pub")
	in.MustRun("container", "create", "web", "--network", "pub", "-p", "8080:80")
	in.MustRun("container", "create", "mid", "--network", "pub", "-p", "7001:80")
	hostListen(t, in, "tcp", "0.0.0.0:8090")
	hostListen(t, in, "udp", "0.0.0.0:8091")
	hostListen(t, in, "tcp", "0.0.0.0:7101")

	create := func(p ...string) []string {
		args := []string{"container", "create", "late", "--network", "pub"}
		for _, s := range p {
			args = append(args, "-p", s)
		}
		return args
	}
	cases := []struct {
		want string
		args []string
	}{
		{"Bind for 0.0.0.0:8080 failed: port is already allocated", create("8080:80")},
		{"Bind for 127.0.0.1:8080 failed: port is already allocated", create("127.0.0.1:8080:80")},
		{"Bind for 0.0.0.0:8090 failed: port is already allocated", create("8090:80")},
		{"Bind for 0.0.0.0:8091 failed: port is already allocated", create("8091:81/udp")},
		{"Invalid ranges specified for container and host Ports", create("7000-7002:80-81")},
		{"Invalid proto: sctp", create("80/sctp")},
		{"Invalid proto: bogus", create("80/bogus")},
		// A range whose middle port another container, a host process, or the
		// same command holds: none of the range's other ports stays.
		{"Bind for 0.0.0.0:7001 failed: port is already allocated", create("7000-7002:7000-7002")},
		{"Bind for 0.0.0.0:7101 failed: port is already allocated", create("7100-7102:7100-7102")},
		{"Bind for 0.0.0.0:7201 failed: port is already allocated", create("7200-7202:7200-7202", "7201:90")},
		{"Bind for 0.0.0.0:8080 failed: port is already allocated", []string{"container", "publish", "web", "-p", "8080:81"}},
		{"Bind for 0.0.0.0:8090 failed: port is already allocated", []string{"container", "publish", "web", "-p", "7300:81", "-p", "8090:82"}},
		{"Invalid proto: sctp", []string{"container", "publish", "web", "-p", "7300:81/sctp"}},
	}
	before := takePortState(in)
	if before.PortsMap == 0 {
		t.Fatalf("bpfnet_ports holds no entry with web's and mid's ports published")
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			in.MustFail(c.want, c.args...)
			if after := takePortState(in); !reflect.DeepEqual(after, before) {
				t.Errorf("state changed:\nbefore %+v\nafter  %+v", before, after)
				before = after
			}
			in.MustFail("No such container", "port", "late")
			if out := in.Run("system", "check"); out.Code != 0 || strings.TrimSpace(out.Stdout) != "ok" {
				t.Errorf("system check after the failure: %v", out)
			}
		})
	}
	// Nothing was held back: the free ports of the refused ranges, and the
	// free one of the refused publish, are still there to take.
	in.MustRun(create("7000:80", "7002:81", "7200:82", "7202:83", "7100:84")...)
	in.MustRun("container", "publish", "web", "-p", "7300:81")
	if got := portLines(in, "web"); !reflect.DeepEqual(got, []string{"80/tcp -> 0.0.0.0:8080", "81/tcp -> 0.0.0.0:7300"}) {
		t.Errorf("bpfnet port web: %q", got)
	}
}
