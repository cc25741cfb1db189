package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AttachMode says how programs are attached to a veth.
type AttachMode string

const (
	// AttachAuto uses TCX where the kernel has it (6.6+) and tc otherwise.
	AttachAuto AttachMode = ""
	// AttachTCX uses TCX links, pinned so they outlive the CLI.
	AttachTCX AttachMode = "tcx"
	// AttachTC uses a clsact qdisc and direct-action cls_bpf filters, which
	// the kernel keeps until the veth goes.
	AttachTC AttachMode = "tc"
)

// ParseAttachMode reads BPFNET_ATTACH's value.
func ParseAttachMode(s string) (AttachMode, error) {
	switch m := AttachMode(s); m {
	case AttachAuto, AttachTCX, AttachTC:
		return m, nil
	}
	return "", fmt.Errorf("invalid attach mode %q: want tc or tcx", s)
}

// hook is one attach point on a host-side veth.
type hook struct {
	ingress bool
	prog    *ebpf.Program
	name    string
}

// attach hooks prog to the device in the calling thread's network
// namespace. The TCX link is pinned at pin; tc needs no pin.
func (d *Datapath) attach(ifindex int, h hook, pin string) error {
	if d.mode != AttachTC {
		err := attachTCX(ifindex, h, pin)
		if err == nil || d.mode == AttachTCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return err
		}
	}
	return attachTC(ifindex, h)
}

func attachTCX(ifindex int, h hook, pin string) error {
	// An attachment that exists is updated in place: no moment with two
	// programs or none on the device.
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if err := l.Update(h.prog); err != nil {
			return fmt.Errorf("replace %s on ifindex %d: %w", h.name, ifindex, err)
		}
		return nil
	}
	at := ebpf.AttachTCXEgress
	if h.ingress {
		at = ebpf.AttachTCXIngress
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: h.prog, Attach: at})
	if err != nil {
		return fmt.Errorf("attach %s to ifindex %d with tcx: %w", h.name, ifindex, err)
	}
	defer l.Close()
	return pinLink(l, pin)
}

// pinLink keeps l attached after this process exits.
func pinLink(l link.Link, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create link pin directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace link pin %s: %w", path, err)
	}
	if err := l.Pin(path); err != nil {
		return fmt.Errorf("pin link at %s: %w", path, err)
	}
	return nil
}

// bpfnet's cls_bpf filter sits at priority 1, handle 1 of clsact's ingress
// or egress; on an uplink that slot may hold someone else's filter, which
// bpfnet neither replaces nor removes.
func tcFilterAttrs(ifindex int, ingress bool) netlink.FilterAttrs {
	parent := uint32(netlink.HANDLE_MIN_EGRESS)
	if ingress {
		parent = netlink.HANDLE_MIN_INGRESS
	}
	return netlink.FilterAttrs{LinkIndex: ifindex, Parent: parent, Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL}
}

// tcSlotHolder names the cls_bpf filter in bpfnet's slot ("" if none).
func tcSlotHolder(attrs netlink.FilterAttrs) (string, error) {
	filters, err := netlink.FilterList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: attrs.LinkIndex}}, attrs.Parent)
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return "", nil // no clsact (yet), or the device is gone
		}
		return "", fmt.Errorf("list tc filters of ifindex %d: %w", attrs.LinkIndex, err)
	}
	for _, f := range filters {
		a := f.Attrs()
		if a.Handle != attrs.Handle || a.Priority != attrs.Priority {
			continue
		}
		if bf, ok := f.(*netlink.BpfFilter); ok {
			return bf.Name, nil
		}
		return "(not bpf)", nil
	}
	return "", nil
}

func attachTC(ifindex int, h hook) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_CLSACT, Handle: netlink.MakeHandle(0xffff, 0)},
		QdiscType:  "clsact",
	}
	// Add, never replace: an uplink's clsact may carry someone else's filters.
	if err := netlink.QdiscAdd(qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc to ifindex %d: %w", ifindex, err)
	}
	attrs := tcFilterAttrs(ifindex, h.ingress)
	holder, err := tcSlotHolder(attrs)
	if err != nil {
		return err
	}
	if holder != "" && holder != h.name {
		return fmt.Errorf("attach %s to ifindex %d with tc: filter %q holds priority 1, handle 1; not replacing another program", h.name, ifindex, holder)
	}
	filter := &netlink.BpfFilter{FilterAttrs: attrs, Fd: h.prog.FD(), Name: h.name, DirectAction: true}
	if err := netlink.FilterReplace(filter); err != nil {
		return fmt.Errorf("attach %s to ifindex %d with tc: %w", h.name, ifindex, err)
	}
	return nil
}

// detachTC removes the filter attachTC added for the program name, if it
// is there.
func detachTC(ifindex int, ingress bool, name string) error {
	attrs := tcFilterAttrs(ifindex, ingress)
	holder, err := tcSlotHolder(attrs)
	if err != nil || holder != name {
		return err
	}
	if err := netlink.FilterDel(&netlink.BpfFilter{FilterAttrs: attrs}); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("detach tc filter %s from ifindex %d: %w", name, ifindex, err)
	}
	return nil
}
