package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
)

// The rows of listings, as their --format templates and JSON lines see
// them: the field names of Docker's formatter contexts (docker/cli
// cli/command/formatter) where Docker has the column.

// networkRow is a line of `network ls`.
type networkRow struct {
	ID, Name, Driver, Scope, IPv6, Internal, Labels, CreatedAt string
	labels                                                     map[string]string
}

// Label is one label's value, as Docker's {{.Label "key"}}.
func (r networkRow) Label(key string) string { return r.labels[key] }

var networkHeaders = map[string]string{"ID": "NETWORK ID"}

func newNetworkRow(n *ctl.Network, noTrunc bool) networkRow {
	id := n.ID
	if !noTrunc {
		id = id[:12]
	}
	return networkRow{
		ID: id, Name: n.Name, Driver: n.Driver, Scope: "local", IPv6: "false",
		Internal: fmt.Sprint(n.Internal), Labels: joinLabels(n.Labels),
		CreatedAt: n.Created.Format("2006-01-02 15:04:05.999999999 -0700 MST"), labels: n.Labels,
	}
}

// containerRow is a line of `container ls`.
type containerRow struct {
	ID, Names, Networks, IPAddresses, Ports, CreatedAt string
}

var containerHeaders = map[string]string{"ID": "CONTAINER ID", "IPAddresses": "IP ADDRESSES"}

func newContainerRow(in *ctl.Instance, c *ctl.Container, published []ports.Mapping) containerRow {
	nets, ips := []string{}, []string{}
	if c.Mode != "" {
		nets = append(nets, c.Mode)
	}
	for _, ep := range c.Endpoints {
		nets = append(nets, in.NetworkByID(ep.NetworkID).Name)
		ips = append(ips, ep.IP.String())
	}
	return containerRow{
		ID: c.ID[:12], Names: c.Name, Networks: strings.Join(nets, ","), IPAddresses: strings.Join(ips, ","),
		Ports: ports.Column(published), CreatedAt: c.Created.Format("2006-01-02 15:04:05 -0700 MST"),
	}
}

// statsRow is a line of `stats`: one endpoint's counters.
type statsRow struct {
	Container, Network, IP, NetIO                 string
	RxPackets, RxBytes, TxPackets, TxBytes, Drops uint64
}

var statsHeaders = map[string]string{"NetIO": "NET I/O", "IP": "IP"}

func newStatsRow(c ctl.EndpointCounters) statsRow {
	return statsRow{
		Container: c.Container, Network: c.Network, IP: c.Endpoint.IP.String(),
		NetIO:     ctl.FormatBytes(float64(c.RxBytes)) + " / " + ctl.FormatBytes(float64(c.TxBytes)),
		RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes, Drops: c.DropTotal(),
	}
}

func joinLabels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// anyRows is rows as the formatter takes them.
func anyRows[R any](rows []R) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	return out
}
