package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Volumes are directories under the instance's root, as Docker's local
// volume driver keeps them: ROOT/volumes/NAME/_data holds the files and
// ROOT/volumes/NAME/volume.json the labels and creation time. The
// directory is the volume: it comes into being by one rename and goes by
// another, so a kill leaves it whole or absent. Containers record what
// they mount (model.Container.Mounts).

// Volume is a named volume.
type Volume struct {
	Name    string
	Created time.Time
	Labels  map[string]string
	// Data is the directory containers see (Docker's Mountpoint).
	Data string `json:"-"`
}

// validVolumeName is Docker's rule for volume names.
func validVolumeName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name)
	}
	return nil
}

func (in *Instance) volumesDir() string { return filepath.Join(in.opts.Root, "volumes") }

func (in *Instance) volumeDir(name string) string { return filepath.Join(in.volumesDir(), name) }

// CreateVolume makes a named volume; an existing one is returned as it
// is, as Docker does.
func (in *Instance) CreateVolume(name string, labels map[string]string) (*Volume, error) {
	if name == "" {
		name = newID()
	}
	if err := validVolumeName(name); err != nil {
		return nil, err
	}
	in.sweepVolumeLeftovers()
	if v, err := in.Volume(name); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	v := &Volume{Name: name, Created: time.Now().UTC(), Labels: labels}
	meta, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.MkdirAll(in.volumesDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(in.volumesDir(), ".new-")
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	defer os.RemoveAll(tmp) // gone by the rename when all went well
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := writeSynced(filepath.Join(tmp, "volume.json"), meta); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.Rename(tmp, in.volumeDir(name)); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return in.Volume(name)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Volume reads one volume.
func (in *Instance) Volume(name string) (*Volume, error) {
	if validVolumeName(name) != nil {
		return nil, notFound(fmt.Sprintf("get %s: no such volume", name))
	}
	data, err := os.ReadFile(filepath.Join(in.volumeDir(name), "volume.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFound(fmt.Sprintf("get %s: no such volume", name))
	}
	if err != nil {
		return nil, fmt.Errorf("read volume %s: %w", name, err)
	}
	var v Volume
	if err := json.Unmarshal(data, &v); err != nil || v.Name != name {
		return nil, fmt.Errorf("volume %s: its record %s is damaged", name, filepath.Join(in.volumeDir(name), "volume.json"))
	}
	v.Data = filepath.Join(in.volumeDir(name), "_data")
	return &v, nil
}

// Volumes lists the volumes by name.
func (in *Instance) Volumes() ([]*Volume, error) {
	entries, err := os.ReadDir(in.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		v, err := in.Volume(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// volumeUsers is the IDs of the containers that mount volume name.
func (in *Instance) volumeUsers(name string) ([]string, error) {
	all, err := in.allContainers()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range all {
		for _, m := range c.Mounts {
			if m.Volume && m.Source == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// RemoveVolume removes a volume no container uses, with its files.
func (in *Instance) RemoveVolume(name string) error {
	if _, err := in.Volume(name); err != nil {
		return err
	}
	users, err := in.volumeUsers(name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", "))
	}
	in.sweepVolumeLeftovers()
	// One rename takes it out of every listing; the files go after.
	gone, err := os.MkdirTemp(in.volumesDir(), ".gone-")
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.Rename(in.volumeDir(name), filepath.Join(gone, name)); err != nil {
		os.Remove(gone)
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove the files of volume %s: %w", name, err)
	}
	return nil
}

// PruneVolumes removes every volume no container uses.
func (in *Instance) PruneVolumes() ([]string, error) {
	vols, err := in.Volumes()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, v := range vols {
		users, err := in.volumeUsers(v.Name)
		if err != nil {
			return removed, err
		}
		if len(users) > 0 {
			continue
		}
		if err := in.RemoveVolume(v.Name); err != nil {
			return removed, err
		}
		removed = append(removed, v.Name)
	}
	return removed, nil
}

// sweepVolumeLeftovers removes what a killed create or rm left (.new-*,
// .gone-*): never a volume.
func (in *Instance) sweepVolumeLeftovers() {
	entries, _ := os.ReadDir(in.volumesDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".new-") || strings.HasPrefix(e.Name(), ".gone-") {
			os.RemoveAll(filepath.Join(in.volumesDir(), e.Name()))
		}
	}
}
