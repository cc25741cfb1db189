package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func networkCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(networkCreate(g), networkLs(g), networkInspect(g), networkRm(g), networkPrune(g),
		networkConnect(g), networkDisconnect(g))
	return cmd
}

func networkCreate(g *globals) *cobra.Command {
	var spec ctl.NetworkSpec
	var opts, labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Long:  "Create a network. Its name is printable UTF-8 without '/', at most 255 bytes.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			var err error
			if spec.Options, err = ctl.ParseKeyValues("option", opts); err != nil {
				return err
			}
			if spec.Labels, err = ctl.ParseKeyValues("label", labels); err != nil {
				return err
			}
			return g.with(func(in *ctl.Instance) error {
				n, err := in.CreateNetwork(spec)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), n.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&spec.Driver, "driver", "d", "bridge", "driver to manage the network")
	f.StringVar(&spec.Subnet, "subnet", "", "subnet in CIDR format: a /30 or larger, outside special-purpose ranges (0/8, 127/8, 169.254/16, 224/4, 240/4), holding no address of the host")
	f.StringVar(&spec.Gateway, "gateway", "", "IPv4 gateway of the subnet")
	f.StringVar(&spec.IPRange, "ip-range", "", "allocate container IPs from a sub-range")
	f.BoolVar(&spec.Internal, "internal", false, "restrict external access to the network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "driver option: icc=BOOL, mtu=N, enable_ip_masquerade=BOOL")
	f.StringArrayVar(&labels, "label", nil, "set metadata on the network")
	return cmd
}

// networkFilter is Docker's `network ls --filter`.
func networkLs(g *globals) *cobra.Command {
	var filters []string
	var formatFlag string
	var quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters, networkFilterKeys...)
			if err != nil {
				return err
			}
			out, err := parseFormat(formatFlag, networkRow{})
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				var rows []networkRow
				for _, n := range in.Networks() {
					if f.matchNetwork(n) {
						rows = append(rows, newNetworkRow(n, noTrunc))
					}
				}
				return writeRows(cmd.OutOrStdout(), out, quiet, rows, networkHeaders, func(r networkRow) string { return r.ID },
					"NETWORK ID\tNAME\tDRIVER\tSCOPE", func(r networkRow) string {
						return fmt.Sprintf("%s\t%s\t%s\t%s", r.ID, shown(r.Name), shown(r.Driver), r.Scope)
					})
			})
		},
	}
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output (name=, driver=, label=, id=, type=custom|builtin)")
	cmd.Flags().StringVar(&formatFlag, "format", "", formatUsage)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	return cmd
}

func networkInspect(g *globals) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "inspect NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				return inspectEach(cmd, formatFlag, args, func(ref string) (networkView, error) {
					n, err := in.Network(ref)
					if err != nil {
						return networkView{}, err
					}
					return viewNetwork(in, n)
				})
			})
		},
	}
	inspectFormatFlag(cmd, &formatFlag)
	return cmd
}

// eachRef runs fn for every argument, prints the ones that worked and
// reports every failure, as `docker network rm a b` does.
func eachRef(cmd *cobra.Command, args []string, fn func(string) error) error {
	var errs []error
	for _, ref := range args {
		if err := fn(ref); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), shown(ref))
	}
	return errors.Join(errs...)
}

func networkRm(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return eachRef(cmd, args, in.RemoveNetwork) })
		},
	}
}

func networkPrune(g *globals) *cobra.Command {
	var force bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filterArgs, pruneFilterKeys...)
			if err != nil {
				return err
			}
			match, err := f.pruneMatch(time.Now())
			if err != nil {
				return err
			}
			if !force && !confirm(g, "WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			return g.with(func(in *ctl.Instance) error {
				removed, err := in.PruneNetworks(match)
				if len(removed) > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
					for _, name := range removed {
						fmt.Fprintln(cmd.OutOrStdout(), shown(name))
					}
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "provide filter values (label=k[=v], label!=k[=v], until=TIME)")
	return cmd
}

func confirm(g *globals, warning string) bool {
	fmt.Fprintf(g.env.Stdout, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(g.env.Stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

func networkConnect(g *globals) *cobra.Command {
	var ip string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return in.Connect(args[0], args[1], ip, aliases) })
		},
	}
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address")
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "add network-scoped alias for the container (also --network-alias)")
	return cmd
}

func networkDisconnect(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return in.Disconnect(args[0], args[1]) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for Docker compatibility")
	return cmd
}
