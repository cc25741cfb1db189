package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
)

func volumeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes (directories exec'd commands of containers see)"}
	cmd.AddCommand(volumeCreate(g), volumeLs(g), volumeInspect(g), volumeRm(g), volumePrune(g))
	return cmd
}

func volumeCreate(g *globals) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			l, err := ctl.ParseKeyValues("label", labels)
			if err != nil {
				return err
			}
			return g.with(func(in *ctl.Instance) error {
				v, err := in.CreateVolume(name, l)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), v.Name)
				}
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&labels, "label", nil, "set metadata for a volume")
	return cmd
}

// volumeRow is a line of `volume ls`.
type volumeRow struct {
	Driver, Name, Scope, Mountpoint, CreatedAt, Labels string
	labels                                             map[string]string
}

// Label is one label's value, as Docker's {{.Label "key"}}.
func (r volumeRow) Label(key string) string { return r.labels[key] }

var volumeHeaders = map[string]string{"Name": "VOLUME NAME"}

func volumeLs(g *globals) *cobra.Command {
	var quiet bool
	var formatFlag string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := parseFormat(formatFlag, volumeRow{})
			if err != nil {
				return err
			}
			return g.read(func(in *ctl.Instance) error {
				vols, err := in.Volumes()
				if err != nil {
					return err
				}
				rows := make([]volumeRow, 0, len(vols))
				for _, v := range vols {
					rows = append(rows, volumeRow{Driver: "local", Name: v.Name, Scope: "local", Mountpoint: v.Data,
						CreatedAt: v.Created.Format("2006-01-02T15:04:05Z07:00"), Labels: joinLabels(v.Labels), labels: v.Labels})
				}
				return writeRows(cmd.OutOrStdout(), out, quiet, rows, volumeHeaders, func(r volumeRow) string { return r.Name },
					"DRIVER\tVOLUME NAME", func(r volumeRow) string { return r.Driver + "\t" + r.Name })
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	cmd.Flags().StringVar(&formatFlag, "format", "", formatUsage)
	return cmd
}

// volumeView is `docker volume inspect`'s shape.
type volumeView struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func volumeInspect(g *globals) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "inspect VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.read(func(in *ctl.Instance) error {
				return inspectEach(cmd, formatFlag, args, func(name string) (volumeView, error) {
					v, err := in.Volume(name)
					if err != nil {
						return volumeView{}, err
					}
					return volumeView{CreatedAt: v.Created.Format("2006-01-02T15:04:05Z07:00"), Driver: "local",
						Labels: nonNil(v.Labels), Mountpoint: v.Data, Name: v.Name, Options: map[string]string{}, Scope: "local"}, nil
				})
			})
		},
	}
	inspectFormatFlag(cmd, &formatFlag)
	return cmd
}

func volumeRm(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.with(func(in *ctl.Instance) error { return eachRef(cmd, args, in.RemoveVolume) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for Docker compatibility; a volume in use is still refused")
	return cmd
}

func volumePrune(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm(g, "WARNING! This will remove all local volumes not used by at least one container.") {
				return nil
			}
			return g.with(func(in *ctl.Instance) error {
				removed, err := in.PruneVolumes()
				if len(removed) > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "Deleted Volumes:")
					for _, name := range removed {
						fmt.Fprintln(cmd.OutOrStdout(), name)
					}
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	return cmd
}
