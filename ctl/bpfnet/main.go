// Command bpfnet manages container networks whose packets an eBPF datapath
// forwards. Run `bpfnet --help`.
package main

import (
	"os"

	"github.com/bpfnet/bpfnet/ctl/cli"
)

func main() {
	os.Exit(cli.Main(cli.DefaultEnv(), os.Args[1:]))
}
