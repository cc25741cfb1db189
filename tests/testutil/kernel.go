package testutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// BPFObjects are the kernel IDs of an instance's programs and maps.
type BPFObjects struct {
	Programs []ebpf.ProgramID
	Maps     []ebpf.MapID
}

// BPFObjects collects the instance's programs and maps: every map, link
// (its program) and program pinned in its bpffs, and the programs of tc
// filters on the host namespace's devices.
func (in *Instance) BPFObjects() (BPFObjects, error) {
	var objs BPFObjects
	err := filepath.WalkDir(filepath.Join(in.Root, "bpffs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if m, err := ebpf.LoadPinnedMap(path, nil); err == nil {
			defer m.Close()
			info, err := m.Info()
			if err != nil {
				return err
			}
			if id, ok := info.ID(); ok {
				objs.Maps = append(objs.Maps, id)
			}
			return nil
		}
		if l, err := link.LoadPinnedLink(path, nil); err == nil {
			defer l.Close()
			info, err := l.Info()
			if err != nil {
				return err
			}
			objs.Programs = append(objs.Programs, info.Program)
			return nil
		}
		if p, err := ebpf.LoadPinnedProgram(path, nil); err == nil {
			defer p.Close()
			info, err := p.Info()
			if err != nil {
				return err
			}
			if id, ok := info.ID(); ok {
				objs.Programs = append(objs.Programs, id)
			}
		}
		return nil // the kernel's own files, such as maps.debug
	})
	if err != nil {
		return objs, err
	}
	h, err := kernel.Handle(in.HostNetns)
	if err != nil {
		return objs, err
	}
	defer h.Close()
	links, err := kernel.RetryDump(h.LinkList)
	if err != nil {
		return objs, err
	}
	for _, l := range links {
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, _ := h.FilterList(l, parent)
			for _, f := range filters {
				if bf, ok := f.(*netlink.BpfFilter); ok && bf.Id > 0 {
					objs.Programs = append(objs.Programs, ebpf.ProgramID(bf.Id))
				}
			}
		}
	}
	return objs, nil
}

// WaitGone waits until the kernel has freed every object of objs (freeing
// is deferred by RCU) and reports those still alive after timeout.
func WaitGone(objs BPFObjects, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var alive []string
		for _, id := range objs.Programs {
			if p, err := ebpf.NewProgramFromID(id); err == nil {
				info, _ := p.Info()
				p.Close()
				alive = append(alive, fmt.Sprintf("program %d %s", id, info.Name))
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		for _, id := range objs.Maps {
			if m, err := ebpf.NewMapFromID(id); err == nil {
				info, _ := m.Info()
				m.Close()
				alive = append(alive, fmt.Sprintf("map %d %s", id, info.Name))
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still in the kernel after %v: %v", timeout, alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
