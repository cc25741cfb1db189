package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfnet/bpfnet/kernel"
)

// The unrelated-UDP case (issue 10, "Speed"): bpfnet's socket programs sit
// on the cgroup v2 root, so every process of the machine runs them, not only
// bpfnet's. It measures unconnected UDP (loadgen udp: sendto and recvfrom,
// one datagram each way) between two sockets of a namespace bpfnet knows
// nothing of, in three states of an instance of its own, set before each
// run and paired round by round:
//   - "no instance": reset, no program of it attached;
//   - "no UDP port": a container publishing a TCP port (connect4 only);
//   - "UDP port": the same plus a published UDP port (sendmsg4 and
//     recvmsg4 attached too);
//   - "two with UDP ports": that instance and a second one (a host
//     namespace of its own), each publishing a UDP port: each attaches its
//     own sendmsg4 and recvmsg4, so unrelated datagrams run two of each;
//   - "no instance again": the first state measured twice, an A/A control
//     whose ratio shows what the machine's noise and the order of runs do
//     to these ratios.
//
// Goal: "no UDP port" >= 0.99x "no instance". Several instances without UDP
// ports attach no UDP program each (TestUDPSocketsOnDemand), so they add
// nothing either; "two with UDP ports" / "UDP port" shows what a second
// instance with UDP ports adds.
const udpCaseID = "udp-unrelated"

// udpPort is the echo server's port in the unrelated namespace.
const udpPort = 7001

type udpRun struct {
	h              *harness
	main           *bpfnet // the datapath cases' instance, whose binary it reuses
	b, b2          *bpfnet // the case's own instances
	ns             *netns  // the unrelated namespace: client and server
	none, tcp, udp *target
	udp2           *target
}

func (h *harness) udpUnrelatedCase(main *bpfnet) *benchCase {
	r := &udpRun{h: h, main: main, none: &target{}, tcp: &target{}, udp: &target{}, udp2: &target{}}
	return &benchCase{id: udpCaseID, title: "unconnected UDP in a namespace bpfnet does not know",
		systems: []*system{
			sys("no instance", r.none, nil, mUDP),
			sys("no instance again", r.none, nil, mUDP),
			sys("no UDP port", r.tcp, nil, mUDP),
			sys("UDP port", r.udp, nil, mUDP),
			sys("two with UDP ports", r.udp2, nil, mUDP),
		},
		ratios: []ratioDef{{mUDP, "no UDP port", "no instance", 0.99}, {mUDP, "UDP port", "no instance", 0},
			{mUDP, "UDP port", "no UDP port", 0}, {mUDP, "two with UDP ports", "no instance", 0},
			{mUDP, "two with UDP ports", "UDP port", 0}, {mUDP, "no instance again", "no instance", 0}},
		prepare: func(res *caseResult) error {
			if err := r.setup(); err != nil {
				return err
			}
			res.Checks = append(res.Checks, foreignUDPPrograms("before the rounds"))
			return nil
		},
		after: func(res *caseResult) {
			_, _ = r.b.cliQuiet("system", "reset", "-f")
			_, _ = r.b2.cliQuiet("system", "reset", "-f")
			res.Checks = append(res.Checks, foreignUDPPrograms("after the rounds"))
		},
	}
}

func (r *udpRun) setup() error {
	s := r.h.s
	if err := r.h.buildLoadgen(); err != nil {
		return err
	}
	bin := ""
	if r.main != nil && r.main.status == "" {
		bin = r.main.bin
	} else {
		var err error
		if bin, err = buildBpfnet(r.h, "bpfnet-udp"); err != nil {
			return err
		}
	}
	var err error
	if r.b, err = r.instance(bin, "bpfnet-udp-instance", "budph"); err != nil {
		return err
	}
	if r.b2, err = r.instance(bin, "bpfnet-udp-instance2", "budph2"); err != nil {
		return err
	}
	if r.ns, err = s.newNetns("budp"); err != nil {
		return err
	}
	argv := []string{r.h.loadgen, "udpserver", "-netns", r.ns.path, "-cpu", strconv.Itoa(r.h.cfg.cpu),
		"-listen", fmt.Sprintf("127.0.0.1:%d", udpPort)}
	if _, err := s.start("loadgen-udp", argv, nil); err != nil {
		return err
	}
	reset, reset2 := r.b.argv("system", "reset", "-f"), r.b2.argv("system", "reset", "-f")
	create := func(b *bpfnet, ports ...string) []string {
		args := []string{"container", "create", "udpsrv", "--network", bpfnetNetwork}
		for _, p := range ports {
			args = append(args, "-p", p)
		}
		return b.argv(args...)
	}
	// Every state is made anew before its run (a reset frees the maps, a
	// create makes them): the kernel's deferred freeing settles before the
	// run starts, whatever state came before.
	settle := []string{"sleep", "0.5"}
	addr := addrPort("127.0.0.1", udpPort)
	*r.none = target{client: r.ns, addr: addr, reset: [][]string{reset, reset2, settle}}
	*r.tcp = target{client: r.ns, addr: addr, reset: [][]string{reset, reset2, create(r.b, "8080:80"), settle}}
	*r.udp = target{client: r.ns, addr: addr, reset: [][]string{reset, reset2, create(r.b, "8080:80", "5353:53/udp"), settle}}
	*r.udp2 = target{client: r.ns, addr: addr, reset: [][]string{reset, reset2, create(r.b, "8080:80", "5353:53/udp"),
		create(r.b2, "8080:80", "5353:53/udp"), settle}}
	return nil
}

// instance makes a bpfnet instance of the case's: its state under the
// session's temporary directory, its own host namespace; reset when the
// session ends.
func (r *udpRun) instance(bin, dirName, hostNs string) (*bpfnet, error) {
	s := r.h.s
	dir := filepath.Join(s.tmp, dirName)
	b := &bpfnet{h: r.h, bin: bin, root: filepath.Join(dir, "root"), bpffs: filepath.Join(dir, "bpffs"), nsDir: filepath.Join(dir, "netns")}
	for _, d := range []string{b.root, b.bpffs, b.nsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	if b.host, err = s.newNetns(hostNs); err != nil {
		return nil, err
	}
	s.push(func() { _, _ = b.cliQuiet("system", "reset", "-f") })
	return b, nil
}

// foreignUDPPrograms notes how many programs are on the cgroup root's UDP
// hooks besides the case's: any other instance with UDP ports (a test run
// elsewhere on the machine) costs every run alike and narrows the ratios.
func foreignUDPPrograms(when string) string {
	root, err := kernel.Cgroup2Mount()
	if err != nil || root == "" {
		return fmt.Sprintf("programs on the cgroup root's UDP hooks %s: no cgroup v2 (%v)", when, err)
	}
	f, err := os.Open(root)
	if err != nil {
		return fmt.Sprintf("programs on the cgroup root's UDP hooks %s: %v", when, err)
	}
	defer f.Close()
	counts := map[string]int{}
	for name, at := range map[string]ebpf.AttachType{"sendmsg4": ebpf.AttachCGroupUDP4Sendmsg, "recvmsg4": ebpf.AttachCGroupUDP4Recvmsg} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: at})
		if err != nil {
			return fmt.Sprintf("programs on the cgroup root's UDP hooks %s: %v", when, err)
		}
		counts[name] = len(res.Programs)
	}
	return fmt.Sprintf("programs on the cgroup root's UDP hooks %s (the case's own instance reset): sendmsg4 %d, recvmsg4 %d",
		when, counts["sendmsg4"], counts["recvmsg4"])
}
