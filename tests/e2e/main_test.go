// Package e2e tests bpfnet end to end as root: each test makes an instance
// with its own root directory and "host" network namespace, drives the CLI
// as a second process (this test binary, see testutil.Main) and checks real
// traffic between the containers' namespaces, observed at the receiver.
package e2e

import (
	"testing"

	"github.com/bpfnet/bpfnet/tests/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
