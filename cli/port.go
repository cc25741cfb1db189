package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

// portCommand is `docker port`: a container's published ports, optionally
// only those of one container port.
func portCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				c, err := in.Container(args[0])
				if err != nil {
					return err
				}
				published, err := in.Ports(c)
				if err != nil {
					return err
				}
				var lines []string
				for _, m := range published {
					line := m.String() // "80/tcp -> 0.0.0.0:8080"
					if len(args) == 2 {
						want := args[1]
						if !strings.Contains(want, "/") {
							want += "/tcp"
						}
						private, public, _ := strings.Cut(line, " -> ")
						if private != want {
							continue
						}
						line = public
					}
					lines = append(lines, line)
				}
				if len(args) == 2 && len(lines) == 0 {
					return fmt.Errorf("No public port '%s' published for %s", args[1], c.Name)
				}
				sort.Strings(lines)
				for _, l := range lines {
					fmt.Fprintln(cmd.OutOrStdout(), l)
				}
				return nil
			})
		},
	}
}

func containerPublish(g *globals) *cobra.Command {
	var specs []string
	cmd := &cobra.Command{
		Use:   "publish CONTAINER -p SPEC [-p SPEC...]",
		Short: "Publish more ports of a running container (bpfnet only: Docker cannot)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(specs) == 0 {
				return fmt.Errorf("give at least one -p")
			}
			return g.with(func(in *ctl.Instance) error {
				added, err := in.Publish(args[0], specs)
				for _, m := range added {
					fmt.Fprintln(cmd.OutOrStdout(), m)
				}
				return err
			})
		},
	}
	cmd.Flags().StringArrayVarP(&specs, "publish", "p", nil, "[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]")
	return cmd
}

func containerUnpublish(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unpublish CONTAINER SPEC...",
		Short: "Remove published ports of a container, named as with -p",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return in.Unpublish(args[0], args[1:]) })
		},
	}
}
