package loader

import (
	"fmt"

	"github.com/bpfnet/bpfnet/bpf"
)

// ConntrackEntries is the size of the instance's conntrack table as pinned:
// the size it was created with, whatever Sizes later callers pass.
func (d *Datapath) ConntrackEntries() uint32 { return d.ct.MaxEntries() }

// DefaultConntrackEntries is the conntrack table's size in the object
// (DEFAULT_CT_ENTRIES), which a zero Sizes.ConntrackEntries keeps. It parses
// the object, a millisecond: for messages and help, not for every command.
func DefaultConntrackEntries() (uint32, error) {
	spec, err := bpf.LoadContainer()
	if err != nil {
		return 0, fmt.Errorf("load container program spec: %w", err)
	}
	return spec.Maps[bpf.ContainerMapBpfnetCt].MaxEntries, nil
}
