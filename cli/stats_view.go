package cli

import (
	"net/netip"
	"time"

	"github.com/bpfnet/bpfnet/ctl"
)

// The JSON shapes of `stats`, `system stats` and `conntrack ls`: the CLI's
// contract, apart from the loader's structs so that neither changes the
// other.

type dropView struct {
	Reason    string // the datapath's name, e.g. OTHER_NETWORK
	Direction string // from-container or to-container
	Packets   uint64
}

type endpointRefView struct {
	ID         string
	IP         string
	MAC        string
	Ifname     string // inside the container
	HostIfname string // the host side of its veth
	Slot       uint32 // its counters row
}

type endpointStatsView struct {
	Container string
	Network   string
	Endpoint  endpointRefView
	RxPackets uint64 // toward the container
	RxBytes   uint64
	TxPackets uint64 // from the container
	TxBytes   uint64
	Drops     []dropView
}

func viewEndpointStats(c ctl.EndpointCounters) endpointStatsView {
	v := endpointStatsView{
		Container: c.Container, Network: c.Network,
		Endpoint: endpointRefView{ID: c.Endpoint.ID, IP: c.Endpoint.IP.String(), MAC: c.Endpoint.MAC,
			Ifname: c.Endpoint.Ifname, HostIfname: c.Endpoint.HostIfname, Slot: c.Endpoint.Slot},
		RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes,
		Drops: []dropView{},
	}
	for _, d := range c.Drops {
		v.Drops = append(v.Drops, dropView{Reason: d.Reason, Direction: d.Direction, Packets: d.Packets})
	}
	return v
}

type instanceStatsView struct {
	ConntrackEntries uint32            // size of the table of established flows
	Conntrack        map[string]uint64 // NEW, CONFIRMED, TABLE_FULL, NO_FLOW...
	HostDrops        []dropView        // drops no endpoint owns
}

func viewInstanceStats(c ctl.InstanceCounters) instanceStatsView {
	v := instanceStatsView{ConntrackEntries: c.ConntrackEntries, Conntrack: map[string]uint64{}, HostDrops: []dropView{}}
	for _, n := range c.Conntrack {
		v.Conntrack[n.Name] = n.Value
	}
	for _, d := range c.HostDrops {
		v.HostDrops = append(v.HostDrops, dropView{Reason: d.Reason, Direction: d.Direction, Packets: d.Packets})
	}
	return v
}

type flowView struct {
	Proto         uint8 // IP protocol number
	Src, Dst      netip.AddrPort
	Kind          string
	NAT           netip.AddrPort // what the matched address becomes
	Established   bool
	Closing       bool
	ExpiresIn     time.Duration
	UplinkIfindex int
}
