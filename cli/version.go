package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/loader"
)

// release is bpfnet's version; builds between releases say "devel".
const release = "devel"

// build names the commit a binary was built from (go build records it
// from the checkout), with "-dirty" for uncommitted changes.
func build() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 7 {
				rev = rev[:7]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is --version's answer, in Docker's shape when the build
// is known (-buildvcs=false builds do not record it).
func versionLine() string {
	if b := build(); b != "unknown" {
		return fmt.Sprintf("%s, build %s", release, b)
	}
	return release
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the bpfnet version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var uts unix.Utsname
			kernel := "unknown"
			if unix.Uname(&uts) == nil {
				kernel = unix.ByteSliceToString(uts.Release[:])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Version:     %s\nBuild:       %s\nDatapath:    %s\nGo version:  %s\nOS/Arch:     %s/%s\nKernel:      %s\n",
				release, build(), loader.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel)
			return nil
		},
	}
}
