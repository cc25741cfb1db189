package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/bpfnet/bpfnet/ctl"
)

func conntrackCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "conntrack", Short: "List or flush the datapath's connection tracking table"}
	var format string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List tracked flows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				flows, err := in.Conntrack()
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), flows)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "PROTO\tSOURCE\tDESTINATION\tKIND\tTRANSLATED TO\tEXPIRES IN")
				for _, f := range flows {
					proto := map[uint8]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp"}[f.Proto]
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", proto, f.Src, f.Dst, f.Kind, f.NAT, f.ExpiresIn.Round(1e9))
				}
				return tw.Flush()
			})
		},
	}
	ls.Flags().StringVar(&format, "format", "", "output format: table or json")
	flush := &cobra.Command{
		Use:   "flush [CONTAINER]",
		Short: "Delete every tracked flow, or those of one container",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error {
				n, err := in.FlushConntrack(args...)
				fmt.Fprintf(cmd.OutOrStdout(), "%d flow entries deleted\n", n)
				return err
			})
		},
	}
	cmd.AddCommand(ls, flush)
	return cmd
}
