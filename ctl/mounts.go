package ctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfnet/bpfnet/kernel"
)

// BindMount is a host path a command of a container sees elsewhere.
type BindMount = kernel.BindMount

// parseMount reads a -v spec as Docker's: SOURCE:DEST[:ro|rw] where SOURCE
// is a volume name or an absolute host path, or DEST alone for a new
// anonymous volume.
func parseMount(spec string) (Mount, error) {
	parts := strings.Split(spec, ":")
	var m Mount
	switch len(parts) {
	case 1:
		m.Volume, m.Destination = true, parts[0]
	case 2, 3:
		m.Source, m.Destination = parts[0], parts[1]
		m.Volume = !strings.HasPrefix(m.Source, "/")
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				return m, fmt.Errorf("invalid mode: %s", parts[2])
			}
		}
	default:
		return m, fmt.Errorf("invalid volume specification: '%s'", spec)
	}
	if m.Source == "" && len(parts) > 1 {
		return m, fmt.Errorf("invalid volume specification: '%s'", spec)
	}
	if !filepath.IsAbs(m.Destination) {
		return m, fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"%s\": invalid mount path: '%s' mount path must be absolute",
			spec, map[bool]string{true: "volume", false: "bind"}[m.Volume], m.Destination)
	}
	if m.Destination == "/" {
		return m, fmt.Errorf("invalid volume specification: '%s': invalid mount config: destination can't be '/'", spec)
	}
	m.Destination = filepath.Clean(m.Destination)
	if !m.Volume {
		m.Source = filepath.Clean(m.Source)
	} else if m.Source != "" {
		if err := validVolumeName(m.Source); err != nil {
			return m, err
		}
	}
	return m, nil
}

// containerMounts resolves create's -v and --volumes-from into c's
// mounts, creating the named and anonymous volumes they need. A volume
// made here and not used because create fails later stays, as Docker's.
func (in *Instance) containerMounts(specs, from []string) ([]Mount, error) {
	var out []Mount
	add := func(m Mount) error {
		for _, o := range out {
			if o.Destination == m.Destination {
				return fmt.Errorf("Duplicate mount point: %s", m.Destination)
			}
		}
		out = append(out, m)
		return nil
	}
	for _, ref := range from {
		name, mode, _ := strings.Cut(ref, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("invalid mode for volumes-from: %s", mode)
		}
		src, err := in.Container(name)
		if err != nil {
			return nil, err
		}
		for _, m := range src.Mounts {
			if mode != "" {
				m.ReadOnly = mode == "ro"
			}
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	for _, spec := range specs {
		m, err := parseMount(spec)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(m.Destination); err != nil {
			return nil, fmt.Errorf("mount at %s: the mount point does not exist on the host (containers share its filesystem; bpfnet makes no directories in it): %w", m.Destination, err)
		}
		if !m.Volume {
			if _, err := os.Stat(m.Source); err != nil {
				return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
			}
		}
		if m.Volume {
			v, err := in.CreateVolume(m.Source, nil)
			if err != nil {
				return nil, err
			}
			m.Source = v.Name
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// execMounts is what `bpfnet exec` mounts for c: host paths to bind at
// destinations.
func (in *Instance) execMounts(c *Container) ([]BindMount, error) {
	out := make([]BindMount, 0, len(c.Mounts))
	for _, m := range c.Mounts {
		src := m.Source
		if m.Volume {
			v, err := in.Volume(m.Source)
			if err != nil {
				return nil, fmt.Errorf("container %s mounts volume %s: %w", c.Name, m.Source, err)
			}
			src = v.Data
		}
		out = append(out, BindMount{Source: src, Destination: m.Destination, ReadOnly: m.ReadOnly})
	}
	return out, nil
}
