package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func systemCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage the bpfnet instance"}
	var force bool
	reset := &cobra.Command{
		Use:   "reset",
		Short: "Remove every container, network, pin and the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm(g, "WARNING! This will remove every bpfnet container and network.") {
				return nil
			}
			opts, err := g.options()
			if err != nil {
				return err
			}
			return ctl.Reset(opts)
		},
	}
	reset.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	check := &cobra.Command{
		Use:   "check",
		Short: "Compare the kernel state with the store, both ways (changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				problems, err := in.Check()
				if err != nil {
					return err
				}
				if len(problems) > 0 {
					return fmt.Errorf("the kernel differs from the store:\n  %s\nrun 'bpfnet system repair'", strings.Join(problems, "\n  "))
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok")
				return nil
			})
		},
	}
	repair := &cobra.Command{
		Use:   "repair",
		Short: "Make the kernel what the store describes: roll back an interrupted command, rebuild what is missing, remove what the store does not explain; restore a damaged or lost store from its backup",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withOptions(ctl.Open, func(o *ctl.Options) { o.RestoreStore = true }, func(in *ctl.Instance) error {
				problems, err := in.Repair()
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), "repaired:", shownMessage(p))
				}
				return err
			})
		},
	}
	cmd.AddCommand(reset, check, repair, systemStats(g))
	return cmd
}
