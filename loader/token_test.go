package loader

import "testing"

// TestTokenSearchSettled: in the initial user namespace the library's
// token search is settled before any load, so no command reads the mount
// table for it (with a library that renamed the variable, the build fails
// to link instead).
func TestTokenSearchSettled(t *testing.T) {
	if !inInitialUserNamespace() {
		t.Skip("not in the initial user namespace: tokens may exist here, the search stays")
	}
	ebpfTokenOnce.Do(func() { t.Error("the token search was still to run") })
}
