package ctl

// defaultRoutes are the next hops c's namespace may take its default route
// through once gone was removed: its other endpoints on networks that lead
// out, in order.
func (in *Instance) defaultRoutes(c *Container, gone *Endpoint) []Gateway {
	var via []Gateway
	for _, ep := range c.Endpoints {
		n := in.state.Networks[ep.NetworkID]
		if ep == gone || n == nil || n.Internal {
			continue
		}
		via = append(via, Gateway{Device: ep.Ifname, IP: n.IPAM.Gateway})
	}
	return via
}
