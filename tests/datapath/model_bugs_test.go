package datapath

import (
	"encoding/binary"
	"testing"

	"github.com/bpfnet/bpfnet/tests/testutil/frames"
)

// TestEchoReplyMasquerade: an ICMP echo reply a container sends with no
// state is masqueraded as a new flow. Its flow key gives the responder
// port 0 and the requester's identifier as the destination port, yet
// nat_rewrite writes the new source "port" over the identifier and moves
// the ICMP checksum as if the identifier had been 0: the reply leaves with
// another identifier than the one it answers and a wrong checksum. The
// model, as documented, leaves the identifier alone (the responder's port
// is in no field). Found by TestFuzzModel with BPFNET_FUZZ_STRICT=1; the
// fuzz test reproduces the bug (echoReplyIDBug) until it is fixed.
func TestEchoReplyMasquerade(t *testing.T) {
	defer func(was bool) { echoReplyIDBug = was }(echoReplyIDBug)
	echoReplyIDBug = false
	fx := newFuzzFixture(t)
	reply := frames.IPv4{Src: epA.IP, Dst: client, Proto: protoICMP}.Packet(
		frames.ICMPEcho(frames.ICMPEchoReply, 0x1b58, 1, []byte("pong")))
	frame := frames.Ether(gw1MAC, epA.MAC, frames.EtherIPv4, reply)
	got, err := fx.run(t, fx.variants[0].progs.FromContainer, fx.h.ctxA(), frame)
	if err != nil {
		t.Fatal(err)
	}
	if got.verdict != verdictRedirect || len(got.out) != len(frame) {
		t.Fatalf("verdict %s, %d bytes out: want it masqueraded out of the uplink", verdictName(got.verdict), len(got.out))
	}
	icmp := got.out[ethLen+ipv4Len:]
	if id := binary.BigEndian.Uint16(icmp[4:6]); id != 0x1b58 {
		t.Errorf("identifier %#04x, want the request's %#04x", id, 0x1b58)
	}
	if c := frames.Checksum(icmp); c != 0 {
		t.Errorf("ICMP checksum %#04x is wrong (residue %#04x)", binary.BigEndian.Uint16(icmp[2:4]), c)
	}
	_, diff, err := checkFromContainer(t, fx, 0, frame)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("the program and the model differ: %s", diff)
	}
}
