package ctltest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
	"github.com/bpfnet/bpfnet/loader"
)

var _ ctl.Machine = (*Kernel)(nil)

func (k *Kernel) CreateNetns(path string) error {
	if _, ok := k.Netns[path]; ok {
		return fmt.Errorf("create network namespace %s: %w", path, os.ErrExist)
	}
	done, err := k.change("CreateNetns", path)
	if err != nil {
		return err
	}
	k.Netns[path] = &Netns{Bound: true, Devices: map[string]bool{"lo": true}}
	done()
	return nil
}

// DeleteNetns removes the namespace; its veths die with it, host sides
// included.
func (k *Kernel) DeleteNetns(path string) error {
	if _, ok := k.Netns[path]; !ok {
		return nil
	}
	done, err := k.change("DeleteNetns", path)
	if err != nil {
		return err
	}
	delete(k.Netns, path)
	for name, l := range k.Links {
		if l.PeerNetns == path {
			delete(k.Links, name)
		}
	}
	done()
	return nil
}

func (k *Kernel) NetnsAt(path string) ctl.NetnsFile {
	ns, ok := k.Netns[path]
	switch {
	case !ok:
		return ctl.NoFile
	case ns.Bound:
		return ctl.BoundNetns
	}
	return ctl.UnboundFile
}

func (k *Kernel) NetnsFiles(dir string) ([]string, error) {
	var out []string
	for path := range k.Netns {
		if filepath.Dir(path) == dir {
			out = append(out, filepath.Base(path))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (k *Kernel) SameNetns(a, b string) bool { return a == b }

func (k *Kernel) RestoreDefaultRoute(path string, via []ctl.Gateway) error {
	done, err := k.change("RestoreDefaultRoute", path, via)
	if err == nil {
		done()
	}
	return err
}

// InHost runs fn: the fake's host is the test's own process, and nothing
// run here may touch the kernel (the fake driver does not).
func (k *Kernel) InHost(fn func() error) error { return fn() }

func (k *Kernel) LinkExists(name string) (bool, error) { return k.Links[name] != nil, nil }

func (k *Kernel) LinkName(index int) (string, bool) {
	for name, l := range k.Links {
		if l.Index == index {
			return name, true
		}
	}
	return "", false
}

func (k *Kernel) DeleteLink(name string) (bool, error) {
	if k.Links[name] == nil {
		return false, nil
	}
	done, err := k.change("DeleteLink", name)
	if err != nil {
		return false, err
	}
	k.deleteVeth(name)
	done()
	return true, nil
}

func (k *Kernel) MarkedLinks(aliasPrefix string) ([]string, error) {
	var out []string
	for name, l := range k.Links {
		if strings.HasPrefix(l.Alias, aliasPrefix) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (k *Kernel) Addrs() (map[netip.Addr]int, error) {
	out := map[netip.Addr]int{}
	for ip, index := range k.HostAddrs {
		out[ip] = index
	}
	return out, nil
}

func (k *Kernel) Routes() ([]netip.Prefix, error) {
	out := append([]netip.Prefix(nil), k.HostRoutes...)
	for ip := range k.HostAddrs {
		out = append(out, netip.PrefixFrom(ip, 32))
	}
	return out, nil
}

func (k *Kernel) Ephemeral() (ports.Ephemeral, error) {
	return ports.Ephemeral{First: 49153, Last: 60999}, nil
}

func (k *Kernel) PortBusy(ip netip.Addr, port uint16, proto ports.Proto) bool {
	return k.BusyPorts[fmt.Sprintf("%v/%s", netip.AddrPortFrom(ports.BindAddr(ip), port), proto)]
}

func (k *Kernel) HasAddr(ip netip.Addr) bool {
	_, ok := k.HostAddrs[ip]
	return ok || ip.IsLoopback()
}

// The host-wide programs are the kernel's business: the fake records
// that a command asked for them.
func (k *Kernel) SyncHost() error   { return k.record("SyncHost") }
func (k *Kernel) ReloadHost() error { return k.record("ReloadHost") }
func (k *Kernel) ResetHost() error  { return k.record("ResetHost") }

func (k *Kernel) record(op string) error {
	done, err := k.change(op)
	if err == nil {
		done()
	}
	return err
}

// OpenDatapath "pins" the maps on first use: the datapath is fresh then.
func (k *Kernel) OpenDatapath(string, loader.AttachMode, loader.Sizes) (ctl.Datapath, error) {
	k.DP.fresh = !k.DP.pinned
	if !k.DP.pinned {
		done, err := k.change("PinMaps")
		if err != nil {
			return nil, err
		}
		k.DP.pinned = true
		done()
	}
	return k.DP, nil
}

func (k *Kernel) OpenPinnedDatapath(bpffs string) (ctl.Datapath, error) {
	if !k.DP.pinned {
		return nil, fmt.Errorf("open maps in %s: %w", bpffs, loader.ErrNotLoaded)
	}
	k.DP.fresh = false
	return k.DP, nil
}

func (k *Kernel) DatapathPinned(string) bool { return k.DP.pinned }
