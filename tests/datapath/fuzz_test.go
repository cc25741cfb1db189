package datapath

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz test runs frames through the real programs with
// BPF_PROG_TEST_RUN and compares verdict, drop reason, counters, the
// frame they leave (addresses, ports, TTL, MACs, every checksum) and the
// connection tracking entries with the model. TestFuzzModel runs seeded
// generated frames, each against the same world; TestFuzzFlows runs
// sessions in which the flows' state carries from frame to frame
// (fuzz_flows_test.go). BPFNET_FUZZ_FRAMES sets the frames per program
// (3,000 by default; `make fuzz-long` runs 100,000), BPFNET_FUZZ_SEED
// replays a run. FuzzFromContainer, FuzzFromUplink and FuzzToContainer
// let `go test -fuzz` mutate the corpus in testdata/fuzz;
// BPFNET_FUZZ_SAVE=dir writes the first frame of each kind, and the last
// mismatching one, there in Go's corpus format.

// fuzzProgram is one program under test and how to run it and its model.
type fuzzProgram struct {
	name string
	gen  func(*frameGen) (string, []byte)
	// check runs frame through the program and the model; variant picks
	// one of A's configurations where the program has several.
	check func(t testing.TB, fx *fuzzFixture, variant int, frame []byte) (path, mismatch string, err error)
	// predict is the model's outcome alone (a masqueraded flow's port 0).
	predict func(fx *fuzzFixture, variant int, frame []byte) *outcome
}

var fuzzPrograms = []fuzzProgram{
	{"from-container", (*frameGen).fromContainer, checkFromContainer, func(fx *fuzzFixture, v int, frame []byte) *outcome {
		m := containerModel{w: fx.state.clone(), ep: fx.variants[v%len(fx.variants)].ep}
		return m.fromContainer(frame)
	}},
	{"from-uplink", (*frameGen).fromUplink, checkFromUplink, func(fx *fuzzFixture, _ int, frame []byte) *outcome {
		m := uplinkModel{w: fx.state.clone()}
		return m.fromUplink(frame)
	}},
	{"to-container", (*frameGen).toContainer, checkToContainer, func(fx *fuzzFixture, v int, frame []byte) *outcome {
		m := containerModel{w: fx.state.clone(), ep: fx.variants[v%len(fx.variants)].ep}
		return m.toContainer(frame)
	}},
}

// checksumEdge returns frame with every checksum the model says the
// program rewrites set so that the rewritten one comes out 0x0000 or
// 0xffff, the two zeros of ones' complement, where the helpers' rules
// (UDP's 0 for no checksum, CSUM_MANGLED_0) decide the bytes. Rewrites
// are incremental, so a checksum moves by the same amount whatever it was.
func checksumEdge(g *frameGen, frame []byte, want *outcome) []byte {
	if len(frame) < ethLen+ipv4Len || len(want.out) != len(frame) || binary.BigEndian.Uint16(frame[12:14]) != etherIPv4 {
		return frame
	}
	l4 := ethLen + int(frame[ethLen]&0x0f)*4
	b := slices.Clone(frame)
	for _, off := range []int{ipCsumOff, l4 + 16, l4 + 6, l4 + 2, errInnerIP + 10} {
		if off+2 > len(b) {
			continue
		}
		in, out := binary.BigEndian.Uint16(frame[off:]), binary.BigEndian.Uint16(want.out[off:])
		if in == out {
			continue
		}
		target := oneOf[uint16](g, 0x0000, 0xffff)
		binary.BigEndian.PutUint16(b[off:], onesSum(in, target, ^out))
	}
	return b
}

func checkFromContainer(t testing.TB, fx *fuzzFixture, variant int, frame []byte) (string, string, error) {
	variant %= len(fx.variants)
	v := fx.variants[variant]
	fx.useVariant(t, variant)
	got, err := fx.run(t, v.progs.FromContainer, fx.h.ctxA(), frame)
	if err != nil {
		return "", "", err
	}
	// The program picks a masquerade port at random: the model takes the
	// one it picked, if it is one it may pick.
	m := containerModel{w: fx.state.clone(), ep: v.ep, pick: got.snatPort}
	return fx.settle(frame, m.fromContainer(frame), m.w, got)
}

func checkFromUplink(t testing.TB, fx *fuzzFixture, _ int, frame []byte) (string, string, error) {
	got, err := fx.run(t, fx.nat.uplink, fx.h.ctxUplink(), frame)
	if err != nil {
		return "", "", err
	}
	m := uplinkModel{w: fx.state.clone(), ifindex: uint32(fx.h.up0)}
	return fx.settle(frame, m.fromUplink(frame), m.w, got)
}

func checkToContainer(t testing.TB, fx *fuzzFixture, variant int, frame []byte) (string, string, error) {
	variant %= len(fx.variants)
	v := fx.variants[variant]
	got, err := fx.run(t, v.progs.ToContainer, fx.h.ctxA(), frame)
	if err != nil {
		return "", "", err
	}
	m := containerModel{w: fx.state.clone(), ep: v.ep}
	return fx.settle(frame, m.toContainer(frame), m.w, got)
}

// settle compares the program's run with the model's outcome and the
// entries the model left, and carries the model's entries on as what
// the next frame meets. It returns the model's path and the mismatch.
func (fx *fuzzFixture) settle(frame []byte, want *outcome, w *world, got ran) (string, string, error) {
	diff := mismatch(frame, want, got)
	d := ctMismatch(ctStates(got.ct), ctStates(w.ct))
	if !equalMaps(got.moved.ctStats, w.ctStats) {
		d += fmt.Sprintf("\n    counters: program %v, model %v", got.moved.ctStats, w.ctStats)
	}
	if d != "" {
		if diff == "" {
			diff = fmt.Sprintf("frame in (%d bytes):\n%s  program and model: %s", len(frame), hex.Dump(frame), want)
		}
		diff += "\n  conntrack differs:" + d
	}
	fx.state = w
	return want.path(), diff, nil
}

// ctMismatch lists the entries only the program or only the model has.
func ctMismatch(got, want []ctState) string {
	var s string
	for _, g := range got {
		if !slices.Contains(want, g) {
			s += "\n    program only: " + g.String()
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			s += "\n    model only:   " + w.String()
		}
	}
	return s
}

// mismatch describes how what the program did differs from the model's
// outcome; "" when it does not.
func mismatch(frame []byte, want *outcome, got ran) string {
	var diffs []string
	if got.verdict != want.verdict {
		diffs = append(diffs, fmt.Sprintf("verdict %s, model %s", verdictName(got.verdict), verdictName(want.verdict)))
	}
	wantDrops := map[dropCount]uint64{}
	if want.drop != nil {
		wantDrops[*want.drop] = 1
	}
	if !equalMaps(got.moved.drops, wantDrops) {
		diffs = append(diffs, fmt.Sprintf("drops %s, model %s", formatDrops(got.moved.drops), formatDrops(wantDrops)))
	}
	wantCounted := map[slotCount]uint64{}
	for _, c := range want.counted {
		wantCounted[c]++
	}
	wantBytes := map[slotCount]uint64{}
	for c, n := range wantCounted {
		wantBytes[c] = n * uint64(len(frame))
	}
	if !equalMaps(got.moved.counted, wantCounted) || !equalMaps(got.moved.bytes, wantBytes) {
		diffs = append(diffs, fmt.Sprintf("counted %v (bytes %v), model %v", got.moved.counted, got.moved.bytes, wantCounted))
	}
	if want.verdict != verdictShot && string(got.out) != string(want.out) {
		diffs = append(diffs, fmt.Sprintf("frame out differs at %v:\n  program % x\n  model   % x", diffOffsets(got.out, want.out), got.out, want.out))
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprintf("frame in (%d bytes):\n%s  program: %s\n  model:   %s\n  %s",
		len(frame), hex.Dump(frame), verdictName(got.verdict), want, strings.Join(diffs, "\n  "))
}

func equalMaps[K comparable](a, b map[K]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func formatDrops(d map[dropCount]uint64) string {
	if len(d) == 0 {
		return "none"
	}
	var s []string
	for k, n := range d {
		s = append(s, fmt.Sprintf("%s(slot %d dir %d)=%d", reasonName(k.reason), k.slot, k.dir, n))
	}
	return strings.Join(s, " ")
}

func diffOffsets(a, b []byte) []int {
	var offs []int
	for i := 0; i < max(len(a), len(b)); i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			offs = append(offs, i)
		}
	}
	return offs
}

// envInt reads a positive number from the environment, def if unset.
func envInt(t testing.TB, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// TestFuzzModel runs seeded generated frames through each program and its
// model; every mismatch fails the test with the frame and both outcomes.
func TestFuzzModel(t *testing.T) {
	fx := newFuzzFixture(t)
	n := envInt(t, "BPFNET_FUZZ_FRAMES", 3000)
	seed := envInt(t, "BPFNET_FUZZ_SEED", uint64(time.Now().UnixNano()))
	t.Logf("seed %d (BPFNET_FUZZ_SEED=%d replays this run), %d frames per program", seed, seed, n)
	save := os.Getenv("BPFNET_FUZZ_SAVE")
	for _, p := range fuzzPrograms {
		g := newFrameGen(seed)
		start := time.Now()
		var refused, mismatches int
		kinds := map[string]int{}
		paths := map[string]int{}
		for i := uint64(0); i < n; i++ {
			fx.reset(t)
			kind, frame := p.gen(g)
			variant := g.pick(len(fx.variants))
			if g.chance(8) && !refusedFrame(frame) {
				kind, frame = kind+", checksum edge", checksumEdge(g, frame, p.predict(fx, variant, frame))
			}
			path, diff, err := p.check(t, fx, variant, frame)
			if err == errRefused {
				refused++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if kinds[kind] == 0 && save != "" {
				saveCorpus(t, save, p.name, kind, variant, frame)
			}
			kinds[kind]++
			paths[path]++
			if diff == "" {
				continue
			}
			mismatches++
			if save != "" {
				saveCorpus(t, save, p.name, "mismatch "+kind, variant, frame) // the last of each kind
			}
			if mismatches <= 5 {
				t.Errorf("%s (seed %d, frame %d, %s, variant %q): %s", p.name, seed, i, kind, fx.variants[variant].name, diff)
			}
		}
		if mismatches > 0 {
			t.Errorf("%s: %d of %d frames mismatch the model (seed %d)", p.name, mismatches, n-uint64(refused), seed)
		}
		t.Logf("%s: %d frames, %d refused by the kernel, %d mismatches, %d kinds, %d paths, %v", p.name, n, refused,
			mismatches, len(kinds), len(paths), time.Since(start).Round(time.Millisecond))
		if testing.Verbose() {
			for _, k := range slices.Sorted(maps.Keys(paths)) {
				t.Logf("  %6d  %s", paths[k], k)
			}
		}
	}
}

// saveCorpus writes a frame as a corpus entry of the program's Fuzz target.
func saveCorpus(t testing.TB, dir, program, kind string, variant int, frame []byte) {
	target := map[string]string{"from-container": "FuzzFromContainer", "from-uplink": "FuzzFromUplink",
		"to-container": "FuzzToContainer"}[program]
	name := strings.NewReplacer(" ", "-", ",", "", ".", "").Replace(kind)
	path := filepath.Join(dir, target, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", byte(variant), frame)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fuzzTarget is the body of a Fuzz function: the fixture is made once,
// seeded with a frame of each kind the generator makes.
func fuzzTarget(f *testing.F, program string) {
	var p fuzzProgram
	for _, q := range fuzzPrograms {
		if q.name == program {
			p = q
		}
	}
	g := newFrameGen(1)
	for range 64 {
		_, frame := p.gen(g)
		f.Add(byte(g.pick(5)), frame)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, variant byte, frame []byte) {
		fx.reset(t)
		_, diff, err := p.check(t, fx, int(variant), frame)
		if err == errRefused {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Errorf("%s, variant %d: %s", program, variant, diff)
		}
	})
}

func FuzzFromContainer(f *testing.F) { fuzzTarget(f, "from-container") }
func FuzzFromUplink(f *testing.F)    { fuzzTarget(f, "from-uplink") }
func FuzzToContainer(f *testing.F)   { fuzzTarget(f, "to-container") }
