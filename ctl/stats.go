package ctl

import "github.com/bpfnet/bpfnet/loader"

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
	containers := in.Containers()
	if len(refs) > 0 {
		containers = containers[:0:0]
		for _, ref := range refs {
			c, err := in.Container(ref)
			if err != nil {
				return nil, err
			}
			containers = append(containers, c)
		}
	}
	var out []EndpointCounters
	for _, c := range containers {
		for _, ep := range c.Endpoints {
			cnt, err := in.dp.Counters(ep.Slot)
			if err != nil {
				return nil, err
			}
			out = append(out, EndpointCounters{Container: c.Name, Network: in.state.Networks[ep.NetworkID].Name, Endpoint: ep, Counters: cnt})
		}
	}
	return out, nil
}
