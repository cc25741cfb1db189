// Package cli is the bpfnet command line: one file per verb group, thin
// over package ctl.
package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/loader"
)

// Env is what a command reads and writes, injectable for tests.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Main runs the CLI with args and returns the exit status.
func Main(env Env, args []string) int {
	cmd := NewRoot(env)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(env.Stderr, "Error:", shownMessage(err.Error()))
		return 1
	}
	return 0
}

// DefaultEnv is the process's own standard streams and environment.
func DefaultEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

type globals struct {
	env  Env
	opts ctl.Options
	// --conntrack-entries: its value applies only when given (Changed), so
	// that 0 is refused rather than taken for the default.
	conntrackEntries int64
	root             *cobra.Command
}

// options are the instance options the global flags and environment give.
func (g *globals) options() (ctl.Options, error) {
	mode, err := loader.ParseAttachMode(g.env.Getenv("BPFNET_ATTACH"))
	if err != nil {
		return ctl.Options{}, fmt.Errorf("BPFNET_ATTACH: %w", err)
	}
	opts := g.opts
	if g.root.PersistentFlags().Changed("conntrack-entries") {
		if err := ctl.CheckConntrackEntries(g.conntrackEntries); err != nil {
			return ctl.Options{}, err
		}
		opts.Sizes.ConntrackEntries = uint32(g.conntrackEntries)
	}
	opts.Attach = mode
	opts.Stderr = g.env.Stderr
	opts.Fault = g.env.Getenv(ctl.EnvFault)
	return opts, nil
}

// with opens the instance for a command that changes it, runs fn and
// closes it.
func (g *globals) with(fn func(*ctl.Instance) error) error {
	return g.withOptions(ctl.Open, func(*ctl.Options) {}, fn)
}

// read opens the instance for a command that only reads it: no exclusive
// lock, nothing written to the kernel or the disk.
func (g *globals) read(fn func(*ctl.Instance) error) error {
	return g.withOptions(ctl.OpenReadOnly, func(*ctl.Options) {}, fn)
}

func (g *globals) withOptions(open func(ctl.Options) (*ctl.Instance, error), adjust func(*ctl.Options), fn func(*ctl.Instance) error) error {
	opts, err := g.options()
	if err != nil {
		return err
	}
	adjust(&opts)
	in, err := open(opts)
	if err != nil {
		return err
	}
	defer in.Close()
	return fn(in)
}

// NewRoot builds the command tree.
func NewRoot(env Env) *cobra.Command {
	g := &globals{env: env}
	root := &cobra.Command{
		Use:           "bpfnet",
		Short:         "Docker's network modes with an eBPF datapath",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	f := root.PersistentFlags()
	f.StringVar(&g.opts.Root, "root", env.Getenv("BPFNET_ROOT"), "state directory (env BPFNET_ROOT; default "+ctl.DefaultRoot+")")
	f.StringVar(&g.opts.BPFFS, "bpffs", env.Getenv("BPFNET_BPFFS"), "pin directory (env BPFNET_BPFFS; default /sys/fs/bpf/bpfnet, or ROOT/bpffs)")
	f.StringVar(&g.opts.NetnsDir, "netns-dir", env.Getenv("BPFNET_NETNS_DIR"), "directory of container namespaces (env BPFNET_NETNS_DIR; default /run/netns, or ROOT/netns)")
	f.StringVar(&g.opts.HostNetns, "host-netns", env.Getenv("BPFNET_HOST_NETNS"), "network namespace acting as the host (env BPFNET_HOST_NETNS; default the caller's)")
	f.Int64Var(&g.conntrackEntries, "conntrack-entries", 0, "size of the connection tracking table")
	g.root = root
	// The full text quotes the default size, which is read from the
	// datapath object: a millisecond that only help should pay.
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		f.Lookup("conntrack-entries").Usage = ctl.ConntrackUsage()
		help(c, args)
	})
	root.AddCommand(networkCommand(g), containerCommand(g), execCommand(g), statsCommand(g), systemCommand(g),
		conntrackCommand(g), portCommand(g), volumeCommand(g), versionCommand())
	root.Version = versionLine()
	root.SetVersionTemplate("bpfnet version {{.Version}}\n")
	strict(root)
	return root
}
