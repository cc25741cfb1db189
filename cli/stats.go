package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func statsCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats [CONTAINER...]",
		Short: "Show packets, bytes and drops by reason per endpoint",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				counters, err := in.Counters(args...)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), counters)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER\tNETWORK\tIP\tRX PACKETS\tRX BYTES\tTX PACKETS\tTX BYTES\tDROPS")
				for _, c := range counters {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", shown(c.Container), shown(c.Network), c.Endpoint.IP,
						c.RxPackets, c.RxBytes, c.TxPackets, c.TxBytes, c.DropTotal())
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				// Reasons get their own table: few endpoints have drops.
				tw = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
				header := "\nCONTAINER\tNETWORK\tDROP REASON\tDIRECTION\tPACKETS"
				for _, c := range counters {
					for _, d := range c.Drops {
						if header != "" {
							fmt.Fprintln(tw, header)
							header = ""
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", shown(c.Container), shown(c.Network), d.Reason, d.Direction, d.Packets)
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output format: table or json")
	return cmd
}
