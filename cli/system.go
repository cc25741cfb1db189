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
			in, err := g.open()
			if err != nil {
				return err
			}
			return in.Reset()
		},
	}
	reset.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	check := &cobra.Command{
		Use:   "check",
		Short: "Compare the kernel state with the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error {
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
		Short: "Rebuild the kernel state the store describes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error {
				problems, err := in.Repair()
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), "repaired:", shownMessage(p))
				}
				return err
			})
		},
	}
	cmd.AddCommand(reset, check, repair)
	return cmd
}
