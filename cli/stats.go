package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func statsCommand(g *globals) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "stats [CONTAINER...]",
		Short: "Show packets, bytes and drops by reason per endpoint",
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(formatFlag, statsRow{})
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				counters, err := in.Counters(args...)
				if err != nil {
					return err
				}
				if out.custom() {
					rows := make([]any, 0, len(counters))
					for _, c := range counters {
						rows = append(rows, newStatsRow(c))
					}
					return out.write(cmd.OutOrStdout(), rows, statsHeaders)
				}
				if out.json {
					views := make([]endpointStatsView, 0, len(counters))
					for _, c := range counters {
						views = append(views, viewEndpointStats(c))
					}
					return writeJSON(cmd.OutOrStdout(), views)
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
				if err := tw.Flush(); err != nil || len(args) > 0 {
					return err
				}
				// The whole instance's: what no endpoint owns, and the
				// pressure on connection tracking.
				totals, err := in.InstanceCounters()
				if err != nil {
					return err
				}
				return writeInstanceTable(cmd.OutOrStdout(), totals)
			})
		},
	}
	cmd.Flags().StringVar(&formatFlag, "format", "", formatUsage)
	return cmd
}

func writeInstanceTable(w io.Writer, c ctl.InstanceCounters) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "\nCONNTRACK (%d entries)\tCOUNT\n", c.ConntrackEntries)
	for _, n := range c.Conntrack {
		fmt.Fprintf(tw, "%s\t%d\n", n.Name, n.Value)
	}
	if len(c.HostDrops) > 0 {
		fmt.Fprintln(tw, "\nHOST DROP REASON\tDIRECTION\tPACKETS")
		for _, d := range c.HostDrops {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", d.Reason, d.Direction, d.Packets)
		}
	}
	return tw.Flush()
}

// systemStats is `system stats`: the instance-wide counters.
func systemStats(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the instance's counters: connection tracking pressure and drops no endpoint owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := tableOrJSON(format)
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				totals, err := in.InstanceCounters()
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), viewInstanceStats(totals))
				}
				return writeInstanceTable(cmd.OutOrStdout(), totals)
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output format: table or json")
	return cmd
}
