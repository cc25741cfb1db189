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
			asJSON, err := tableOrJSON(format)
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				flows, err := in.Conntrack()
				if err != nil {
					return err
				}
				if asJSON {
					views := make([]flowView, 0, len(flows))
					for _, f := range flows {
						views = append(views, flowView{Proto: f.Proto, Src: f.Src, Dst: f.Dst, Kind: f.Kind, NAT: f.NAT,
							Established: f.Established, Closing: f.Closing, ExpiresIn: f.ExpiresIn, UplinkIfindex: f.UplinkIfindex})
					}
					return writeJSON(cmd.OutOrStdout(), views)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "PROTO\tSOURCE\tDESTINATION\tKIND\tTRANSLATED TO\tSTATE\tEXPIRES IN")
				for _, f := range flows {
					proto := map[uint8]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp"}[f.Proto]
					state := "unconfirmed"
					switch {
					case f.Closing:
						state = "closing"
					case f.Established:
						state = "established"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", proto, f.Src, f.Dst, f.Kind, f.NAT, state, f.ExpiresIn.Round(1e9))
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
