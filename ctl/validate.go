package ctl

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bpfnet/bpfnet/loader"
)

// Checks of user input that the control plane makes before it changes
// anything. ipam holds the pure subnet checks; these need the instance.

// Bounds of --conntrack-entries. The table is an LRU hash the kernel
// allocates whole when it is created: the upper bound keeps one flag from
// locking gigabytes, the lower one keeps a table that a handful of
// connections would not churn.
const (
	MinConntrackEntries = 1 << 10
	MaxConntrackEntries = 1 << 24
	// ConntrackEntryBytes is what one entry costs with the kernel's
	// overhead: the map's memlock in /proc/PID/fdinfo over its entries, on
	// 6.18 (tests/e2e/input_test.go measures it again).
	ConntrackEntryBytes = 104
)

// CheckConntrackEntries refuses a --conntrack-entries out of bounds and says
// what the bounds, the default and the asked size cost.
func CheckConntrackEntries(n int64) error {
	if n >= MinConntrackEntries && n <= MaxConntrackEntries {
		return nil
	}
	asked := ""
	if n > MaxConntrackEntries {
		asked = " (" + FormatBytes(float64(n)*ConntrackEntryBytes) + ")"
	}
	return fmt.Errorf("invalid --conntrack-entries %d%s: want %d to %d (%s to %s; %s%d bytes per entry)", n, asked,
		MinConntrackEntries, MaxConntrackEntries, FormatBytes(MinConntrackEntries*ConntrackEntryBytes),
		FormatBytes(MaxConntrackEntries*ConntrackEntryBytes), conntrackDefault(), ConntrackEntryBytes)
}

// ConntrackUsage is the help text of --conntrack-entries.
func ConntrackUsage() string {
	usage := fmt.Sprintf("size of the connection tracking table, fixed when the instance's maps are created: %d to %d entries of %d bytes",
		MinConntrackEntries, MaxConntrackEntries, ConntrackEntryBytes)
	if def, err := loader.DefaultConntrackEntries(); err == nil {
		usage += fmt.Sprintf(" (default %d: %s)", def, FormatBytes(float64(def)*ConntrackEntryBytes))
	}
	return usage
}

// conntrackDefault is "13.6 MB at the default 131072; ", or "" when the
// object cannot tell.
func conntrackDefault() string {
	def, err := loader.DefaultConntrackEntries()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s at the default %d; ", FormatBytes(float64(def)*ConntrackEntryBytes), def)
}

// FormatBytes writes n in decimal units, as memory is quoted in the README
// (and as the CLI quotes traffic).
func FormatBytes(n float64) string {
	for _, u := range []struct {
		size float64
		name string
	}{{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}} {
		if n >= u.size {
			return fmt.Sprintf("%.1f %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%.0f B", n)
}

// checkSizes refuses map sizes out of bounds before Open makes anything;
// zero keeps the object's size.
func checkSizes(s loader.Sizes) error {
	if s.ConntrackEntries == 0 {
		return nil
	}
	return CheckConntrackEntries(int64(s.ConntrackEntries))
}

// checkPinnedSizes refuses a size that differs from the pinned table's: a
// pinned map keeps its size, so the flag would otherwise be ignored.
func (in *Instance) checkPinnedSizes() error {
	want, have := in.opts.Sizes.ConntrackEntries, in.dp.ConntrackEntries()
	if want == 0 || want == have {
		return nil
	}
	return fmt.Errorf("invalid --conntrack-entries %d: the instance's conntrack table (%s) already holds %d entries (%s), "+
		"a size fixed when its maps are created: to change it, remove everything with 'bpfnet system reset' (without "+
		"--conntrack-entries) and create the networks and containers again, the first command with --conntrack-entries %d",
		want, in.opts.BPFFS, have, FormatBytes(float64(have)*ConntrackEntryBytes), want)
}

// maxNetworkName bounds a network name, as the longest file name does.
const maxNetworkName = 255

// checkNetworkName refuses a name that cannot be printed as it is: the
// name shows up in tables, errors and the names of files other tools make.
// %q keeps the error itself free of control characters.
func checkNetworkName(name string) error {
	if len(name) > maxNetworkName {
		return fmt.Errorf("invalid network name %q...: longer than %d bytes (%d)", name[:32], maxNetworkName, len(name))
	}
	why := ""
	switch {
	case name == "":
		why = "it is empty"
	case !utf8.ValidString(name):
		why = "it is not UTF-8"
	case strings.ContainsRune(name, '/'):
		why = "it holds a '/'"
	}
	for _, r := range name {
		if why == "" && !unicode.IsPrint(r) {
			why = fmt.Sprintf("it holds %U, which is not printable", r)
		}
	}
	if why != "" {
		return fmt.Errorf("invalid network name %q: %s", name, why)
	}
	return nil
}

// selfNetns is the caller's own network namespace: the calling thread's,
// which is the process's unless the thread was locked into another, while
// /proc/self names the main thread's, which a goroutine that exited locked
// into a new namespace leaves there for good.
const selfNetns = "/proc/thread-self/ns/net"

// checkAdoptNetns refuses to adopt a namespace that is not a container's to
// give: bpfnet would add eth0 and a default route through the container
// network to it, and remove them again on `container rm`.
func (in *Instance) checkAdoptNetns(path string) error {
	host := in.opts.HostNetns
	if host == "" {
		host = selfNetns
	}
	why := ""
	switch {
	case in.machine.SameNetns(path, host):
		why = "it is the host's network namespace"
	case in.machine.SameNetns(path, selfNetns):
		why = "it is the network namespace bpfnet runs in"
	case in.machine.SameNetns(path, "/proc/1/ns/net"):
		why = "it is the network namespace of PID 1, the machine's"
	}
	if why != "" {
		return fmt.Errorf("invalid --netns %s: %s", path, why)
	}
	return nil
}

// checkHostAddrs refuses a subnet that holds an address of the host: the
// network's gateway and its route to bpfnet0 would take that address's
// traffic from the device that holds it (the uplink's own subnet came back
// duplicated onto bpfnet0). Overlap with bpfnet's own networks is
// ipam.CheckOverlap's.
func (in *Instance) checkHostAddrs(subnet netip.Prefix) error {
	held, err := in.machine.Addrs()
	if err != nil {
		return err
	}
	var first netip.Addr
	for ip := range held {
		if subnet.Contains(ip) && (!first.IsValid() || ip.Less(first)) {
			first = ip
		}
	}
	if !first.IsValid() {
		return nil
	}
	dev := fmt.Sprintf("device %d", held[first])
	if name, ok := in.machine.LinkName(held[first]); ok {
		dev = name
	}
	return fmt.Errorf("invalid subnet %s: the host already holds %s (on %s)", subnet, first, dev)
}
