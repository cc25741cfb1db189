package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func containerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers (network namespaces)"}
	cmd.AddCommand(containerCreate(g), containerLs(g), containerInspect(g), containerRm(g), portCommand(g),
		containerPublish(g), containerUnpublish(g))
	return cmd
}

func containerCreate(g *globals) *cobra.Command {
	var spec ctl.ContainerSpec
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NAME | --name NAME [OPTIONS]",
		Short: "Create a container: a network namespace connected to a network",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && spec.Name != "" && spec.Name != args[0]:
				return fmt.Errorf("conflicting options: --name %s and the name argument %s", shown(spec.Name), shown(args[0]))
			case len(args) == 1:
				spec.Name = args[0]
			case spec.Name == "":
				return fmt.Errorf("\"bpfnet container create\" requires a container name: NAME or --name NAME")
			}
			return g.with(func(in *ctl.Instance) error {
				c, err := in.CreateContainer(spec)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), c.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "the container's name (or the NAME argument)")
	f.StringVar(&spec.Network, "network", "", "connect to a network: a name, host or none (default bridge)")
	f.StringVar(&spec.IP, "ip", "", "IPv4 address (needs a network with a user-given subnet)")
	f.StringArrayVar(&spec.Aliases, "alias", nil, "add network-scoped alias for the container (also --network-alias)")
	f.StringVar(&spec.Netns, "netns", "", "adopt this network namespace (e.g. /proc/PID/ns/net) instead of creating one; not the host's or bpfnet's own")
	f.StringArrayVarP(&spec.Publish, "publish", "p", nil, "publish a container's port(s) to the host: [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]")
	f.BoolVarP(&spec.PublishAll, "publish-all", "P", false, "publish all exposed ports to random ports")
	f.StringArrayVar(&spec.Expose, "expose", nil, "expose a port or a range of ports (published by -P)")
	f.StringArrayVarP(&spec.Volumes, "volume", "v", nil, "mount a volume or host directory for exec'd commands: NAME_OR_/HOST/PATH:/DEST[:ro], or /DEST for a new volume")
	f.StringArrayVar(&spec.VolumesFrom, "volumes-from", nil, "mount the volumes of a container: NAME[:ro|rw]")
	return cmd
}

func containerLs(g *globals) *cobra.Command {
	var quiet, all bool
	var formatFlag string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list", "ps"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(formatFlag, containerRow{})
			if err != nil {
				return err
			}
			f, err := parseFilters(filterArgs, containerFilterKeys...)
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				containers, err := in.Containers()
				if err != nil {
					return err
				}
				rows := make([]containerRow, 0, len(containers))
				for _, c := range containers {
					published, err := in.Ports(c)
					if err != nil {
						return err
					}
					row := newContainerRow(in, c, published)
					if ok, err := f.matchContainer(c, row, published); err != nil || !ok {
						if err != nil {
							return err
						}
						continue
					}
					rows = append(rows, row)
				}
				return writeRows(cmd.OutOrStdout(), out, quiet, rows, containerHeaders, func(r containerRow) string { return r.ID },
					"CONTAINER ID\tNAMES\tNETWORKS\tIP ADDRESSES\tPORTS", func(r containerRow) string {
						return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", r.ID, shown(r.Names), shown(r.Networks), r.IPAddresses, r.Ports)
					})
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (bpfnet's are always all: they have no stopped state)")
	cmd.Flags().StringArrayVarP(&filterArgs, "filter", "f", nil, "filter output (name=, id=, network=, publish=, expose=)")
	cmd.Flags().StringVar(&formatFlag, "format", "", formatUsage)
	return cmd
}

func containerInspect(g *globals) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "inspect CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				return inspectEach(cmd, formatFlag, args, func(ref string) (containerView, error) {
					c, err := in.Container(ref)
					if err != nil {
						return containerView{}, err
					}
					return viewContainer(in, c)
				})
			})
		},
	}
	inspectFormatFlag(cmd, &formatFlag)
	return cmd
}

func containerRm(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return eachRef(cmd, args, in.RemoveContainer) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for Docker compatibility")
	return cmd
}
