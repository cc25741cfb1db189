package cli

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/kernel"
)

func execCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "exec CONTAINER -- COMMAND [ARG...]",
		Short: "Run a command in a container's network namespace",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var path string
			var mounts []kernel.BindMount
			err := g.read(func(in *ctl.Instance) (err error) {
				path, mounts, err = in.ExecTarget(args[0])
				return err
			})
			if err != nil {
				return err
			}
			return execIn(path, mounts, args[1:])
		},
	}
}

// execIn replaces this process with argv, in the namespace at path ("" is
// this process's own) and, when the container mounts volumes, in a mount
// namespace of its own with them. The instance is closed first, so its
// lock is free while the command runs.
func execIn(path string, mounts []kernel.BindMount, argv []string) error {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	// execve keeps the calling thread's namespaces: lock this thread into
	// the container's and exec from it.
	runtime.LockOSThread()
	if path != "" {
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", path, err)
		}
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", path, err)
		}
	}
	if err := kernel.PrivateMounts(mounts); err != nil {
		return err
	}
	return fmt.Errorf("exec %s: %w", bin, syscall.Exec(bin, argv, os.Environ()))
}
