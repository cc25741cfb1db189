package ctl

import (
	"net/netip"

	"github.com/bpfnet/bpfnet/loader"
)

// EndpointCounters are the datapath's counters of one endpoint.
type EndpointCounters struct {
	Container string
	Network   string
	Endpoint  *Endpoint
	loader.Counters
}

// Counters reads the counters of every endpoint of the containers named,
// or of all containers.
func (in *Instance) Counters(refs ...string) ([]EndpointCounters, error) {
	var containers []*Container
	if len(refs) == 0 {
		var err error
		if containers, err = in.Containers(); err != nil {
			return nil, err
		}
	} else {
		for _, ref := range refs {
			c, err := in.Container(ref)
			if err != nil {
				return nil, err
			}
			containers = append(containers, c)
		}
	}
	dp, err := in.datapath()
	if err != nil {
		return nil, err
	}
	var out []EndpointCounters
	for _, c := range containers {
		for _, ep := range c.Endpoints {
			cnt, err := dp.Counters(ep.Slot)
			if err != nil {
				return nil, err
			}
			out = append(out, EndpointCounters{Container: c.Name, Network: in.state.Networks[ep.NetworkID].Name, Endpoint: ep, Counters: cnt})
		}
	}
	return out, nil
}

// Conntrack lists the datapath's tracked flows.
func (in *Instance) Conntrack() ([]loader.Flow, error) {
	dp, err := in.datapath()
	if err != nil {
		return nil, err
	}
	return dp.Conntrack()
}

// FlushConntrack deletes every tracked flow, or those of the containers
// named.
func (in *Instance) FlushConntrack(refs ...string) (int, error) {
	if len(refs) == 0 {
		return in.dp.FlushConntrack()
	}
	var ips []netip.Addr
	for _, ref := range refs {
		c, err := in.Container(ref)
		if err != nil {
			return 0, err
		}
		ips = append(ips, endpointIPs(c)...)
	}
	if len(ips) == 0 {
		return 0, nil // containers without bridge endpoints have no flows
	}
	return in.dp.FlushConntrack(ips...)
}

func endpointIPs(c *Container) []netip.Addr {
	ips := make([]netip.Addr, 0, len(c.Endpoints))
	for _, ep := range c.Endpoints {
		ips = append(ips, ep.IP)
	}
	return ips
}

// InstanceCounters are the datapath's instance-wide counters: connection
// tracking pressure and the drops no endpoint owns (the host's slot).
type InstanceCounters struct {
	ConntrackEntries uint32 // the established table's size
	Conntrack        []loader.ConntrackCounter
	HostDrops        []loader.Drop
}

// InstanceCounters reads the instance-wide counters.
func (in *Instance) InstanceCounters() (InstanceCounters, error) {
	var out InstanceCounters
	dp, err := in.datapath()
	if err != nil {
		return out, err
	}
	out.ConntrackEntries = dp.ConntrackEntries()
	if out.Conntrack, err = dp.ConntrackCounters(); err != nil {
		return out, err
	}
	host, err := dp.Counters(loader.HostSlot)
	out.HostDrops = host.Drops
	return out, err
}
