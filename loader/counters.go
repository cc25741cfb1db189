package loader

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfnet/bpfnet/bpf"
)

// Counters are one endpoint's packet counts, summed over CPUs. Rx is toward
// the container, Tx from it.
type Counters struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	Drops                                  []Drop
}

// Drop is the number of packets dropped for one reason in one direction.
type Drop struct {
	Reason    string // the C enum's name without DROP_, e.g. OTHER_NETWORK
	Direction string // "from-container" or "to-container"
	Packets   uint64
}

// DropTotal sums the drops of every reason.
func (c Counters) DropTotal() uint64 {
	var n uint64
	for _, d := range c.Drops {
		n += d.Packets
	}
	return n
}

// dropReasons maps the C enum's values to names, read from the object's
// BTF so that C stays the one place they are written.
func (d *Datapath) dropReasons() (map[bpf.DropReason]string, error) {
	return enumNames[bpf.DropReason](d, "drop_reason", "DROP_", uint64(bpf.DropReasonDROP_REASON_MAX))
}

// enumNames reads the names of a C enum's values below max from the
// container object's BTF, without prefix.
func enumNames[T ~uint32](d *Datapath, enum, prefix string, max uint64) (map[T]string, error) {
	spec, err := d.containerSpec()
	if err != nil {
		return nil, err
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName(enum, &e); err != nil {
		return nil, fmt.Errorf("find enum %s in BTF: %w", enum, err)
	}
	names := make(map[T]string, len(e.Values))
	for _, v := range e.Values {
		if v.Value < max {
			names[T(v.Value)] = strings.TrimPrefix(v.Name, prefix)
		}
	}
	return names, nil
}

// ConntrackCounter is one of the instance's connection tracking counters
// (enum ct_stat in bpf/lib/common.h), summed over CPUs.
type ConntrackCounter struct {
	Name  string // the C name without CT_STAT_, e.g. TABLE_FULL
	Value uint64
}

// ConntrackCounters reads the instance-wide connection tracking counters,
// in the C enum's order: flows started and confirmed, and every way a flow
// can lose its state or fail to get one.
func (d *Datapath) ConntrackCounters() ([]ConntrackCounter, error) {
	names, err := enumNames[bpf.CtStat](d, "ct_stat", "CT_STAT_", uint64(bpf.CtStatCT_STAT_MAX))
	if err != nil {
		return nil, err
	}
	out := make([]ConntrackCounter, 0, len(names))
	for s := bpf.CtStat(0); s < bpf.CtStatCT_STAT_MAX; s++ {
		var perCPU []uint64
		if err := d.ctStats.Lookup(s, &perCPU); err != nil {
			return nil, fmt.Errorf("read conntrack counter %s: %w", names[s], err)
		}
		c := ConntrackCounter{Name: names[s]}
		for _, n := range perCPU {
			c.Value += n
		}
		out = append(out, c)
	}
	return out, nil
}

var directions = map[bpf.Direction]string{
	bpf.DirectionDIR_FROM_CONTAINER: "from-container",
	bpf.DirectionDIR_TO_CONTAINER:   "to-container",
}

// Counters reads the counters of the endpoint in slot.
func (d *Datapath) Counters(slot uint32) (Counters, error) {
	var c Counters
	var perCPU []bpf.EndpointStats
	if err := d.stats.Lookup(slot, &perCPU); err != nil {
		return c, fmt.Errorf("read counters of slot %d: %w", slot, err)
	}
	for _, s := range perCPU {
		c.RxPackets += s.RxPackets
		c.RxBytes += s.RxBytes
		c.TxPackets += s.TxPackets
		c.TxBytes += s.TxBytes
	}
	reasons, err := d.dropReasons()
	if err != nil {
		return c, err
	}
	err = d.eachDropKey(slot, func(key bpf.DropKey) error {
		var perCPU []uint64
		if err := d.drops.Lookup(key, &perCPU); errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read drops of slot %d: %w", slot, err)
		}
		drop := Drop{Reason: reasons[key.Reason], Direction: directions[key.Direction]}
		for _, n := range perCPU {
			drop.Packets += n
		}
		c.Drops = append(c.Drops, drop)
		return nil
	})
	sort.Slice(c.Drops, func(i, j int) bool {
		if c.Drops[i].Reason != c.Drops[j].Reason {
			return c.Drops[i].Reason < c.Drops[j].Reason
		}
		return c.Drops[i].Direction < c.Drops[j].Direction
	})
	return c, err
}

// eachDropKey calls fn for every possible drop key of slot: a handful of
// lookups beats iterating a map shared by all endpoints.
func (d *Datapath) eachDropKey(slot uint32, fn func(bpf.DropKey) error) error {
	for r := bpf.DropReason(1); r < bpf.DropReasonDROP_REASON_MAX; r++ {
		for dir := range directions {
			if err := fn(bpf.DropKey{Slot: slot, Reason: r, Direction: dir}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ResetCounters zeroes slot's counters, so a new endpoint in a reused slot
// starts from nothing.
func (d *Datapath) ResetCounters(slot uint32) error {
	zero := make([]bpf.EndpointStats, ebpf.MustPossibleCPU())
	if err := d.stats.Update(slot, zero, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("reset counters of slot %d: %w", slot, err)
	}
	return d.eachDropKey(slot, func(key bpf.DropKey) error {
		if err := d.drops.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("reset drops of slot %d: %w", slot, err)
		}
		return nil
	})
}
