package bpf

import (
	"crypto/sha256"
	"encoding/hex"
)

// Version names this build's datapath: a digest of the three objects, so
// it changes whenever any program does. An instance whose programs were
// loaded from another version reloads them.
func Version() string {
	h := sha256.New()
	for _, obj := range [][]byte{_ContainerBytes, _HostBytes, _SockBytes} {
		h.Write(obj)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
