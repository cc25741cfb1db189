//go:build vmselftest

// Package selftest holds a test that always fails. vm/selfcheck.sh (make vm-test-selfcheck)
// builds it with -tags vmselftest into the guest to prove that a failing test inside the VM makes
// `make vm-test` fail. The build tag keeps it out of every other build and test run.
package selftest

import "testing"

func TestHarnessSeesFailure(t *testing.T) {
	t.Fatal("deliberate failure: the VM harness must report this test and exit non-zero")
}
