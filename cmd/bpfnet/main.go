// Command bpfnet manages container networks whose packets an eBPF datapath
// forwards. Run `bpfnet --help`.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/bpfnet/bpfnet/cli"
)

func main() {
	// BPFNET_CPUPROFILE=FILE profiles one command, for the benchmark's
	// control-plane cases.
	if path := os.Getenv("BPFNET_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			code := cli.Main(cli.DefaultEnv(), os.Args[1:])
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
		fmt.Fprintln(os.Stderr, "bpfnet: cannot profile to", path)
	}
	os.Exit(cli.Main(cli.DefaultEnv(), os.Args[1:]))
}
