package loader

import (
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfnet/bpfnet/bpf"
)

// verifierBudget is the most instructions the kernel's verifier may walk
// for each program. A container program is verified once per endpoint
// (container create pays it), so a change that makes the verifier's walk
// explode must fail here, not show up as a slow create. The budgets leave
// about half again above what the programs cost (kernel 6.18: the
// container ingress program ~10.2k for a bridge endpoint, its egress ~150,
// the uplink's ~4.6k; 5.10 walks about as many). Before the rarely taken
// conntrack and rewrite pieces became global functions, which the
// verifier checks once, the container ingress program took ~101k (~130 ms).
var verifierBudget = map[string]int{
	bpf.ContainerProgBpfnetFromContainer: 16000,
	bpf.ContainerProgBpfnetToContainer:   1000,
	bpf.HostProgBpfnetFromUplink:         7000,
}

var (
	processedRe = regexp.MustCompile(`processed (\d+) insns`)
	verifTimeRe = regexp.MustCompile(`verification time (\d+) usec`)
)

// verifierStats reads the instructions the verifier processed, and the
// time it took (0 where the kernel does not say, before 5.x), from a
// program's log at LogLevelStats.
func verifierStats(t *testing.T, name, log string) (insns, usec int) {
	t.Helper()
	m := processedRe.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("%s: no processed instruction count in the verifier log:\n%s", name, log)
	}
	insns, _ = strconv.Atoi(m[1])
	if m := verifTimeRe.FindStringSubmatch(log); m != nil {
		usec, _ = strconv.Atoi(m[1])
	}
	return insns, usec
}

// The container programs are loaded with each network kind compiled in
// (config is a constant, so the verifier prunes the other kinds' paths);
// every one must stay within its budget.
func TestVerifierBudget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading programs needs root")
	}
	d, err := Open(t.TempDir(), AttachAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
	})
	// BPFNET_VERIFIER_DUMP=prefix writes each program's full verifier log
	// (every instruction walked, with its source line) to prefix.<test>.<program>,
	// to find where the walk goes.
	dump := os.Getenv("BPFNET_VERIFIER_DUMP")
	check := func(t *testing.T, spec *ebpf.CollectionSpec, progs ...string) {
		opts := d.loadOptions(spec)
		opts.Programs = ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}
		if dump != "" {
			opts.Programs = ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats | ebpf.LogLevelInstruction, LogSizeStart: 1 << 26}
		}
		coll, err := ebpf.NewCollectionWithOptions(spec, *opts)
		if err != nil {
			t.Fatal(err)
		}
		defer coll.Close()
		for _, name := range progs {
			insns, usec := verifierStats(t, name, coll.Programs[name].VerifierLog)
			if dump != "" {
				file := dump + "." + strings.ReplaceAll(t.Name(), "/", "_") + "." + name
				if err := os.WriteFile(file, []byte(coll.Programs[name].VerifierLog), 0o644); err != nil {
					t.Error(err)
				}
			}
			t.Logf("%s: verifier processed %d instructions in %d µs", name, insns, usec)
			if insns > verifierBudget[name] {
				t.Errorf("%s: the verifier processed %d instructions, over the budget of %d", name, insns, verifierBudget[name])
			}
		}
	}
	ep := Endpoint{
		Slot:       FirstEndpointSlot,
		Network:    1,
		IP:         netip.MustParseAddr("172.18.0.2"),
		MAC:        net.HardwareAddr{0x02, 0x42, 0xac, 0x12, 0, 2},
		Subnet:     netip.MustParsePrefix("172.18.0.0/16"),
		Gateway:    netip.MustParseAddr("172.18.0.1"),
		GatewayMAC: net.HardwareAddr{0x02, 0x42, 0xac, 0x12, 0, 1},
	}
	kinds := []struct {
		name string
		set  func(*Endpoint)
	}{
		{"bridge", func(*Endpoint) {}},
		{"no-masquerade", func(e *Endpoint) { e.NoMasquerade = true }},
		{"internal", func(e *Endpoint) { e.Internal = true }},
		{"icc-disabled", func(e *Endpoint) { e.ICCDisabled = true }},
	}
	base, err := d.containerSpec()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			e := ep
			kind.set(&e)
			spec := base.Copy()
			if err := spec.Variables[bpf.ContainerVarConfig].Set(e.config()); err != nil {
				t.Fatal(err)
			}
			check(t, spec, bpf.ContainerProgBpfnetFromContainer, bpf.ContainerProgBpfnetToContainer)
		})
	}
	t.Run("uplink", func(t *testing.T) {
		spec, err := bpf.LoadHost()
		if err != nil {
			t.Fatal(err)
		}
		check(t, spec, bpf.HostProgBpfnetFromUplink)
	})
}
