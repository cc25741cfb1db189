package ports

import (
	"fmt"
	"strconv"
	"strings"
)

// Binding is one host side of a published port, shaped (field names
// included, for JSON) like Docker's nat.PortBinding in `docker inspect`.
type Binding struct {
	HostIp   string // not HostIP: the JSON key Docker clients read is "HostIp"
	HostPort string
}

// PortsView is `docker inspect`'s NetworkSettings.Ports: bindings keyed
// "80/tcp", in the order of ms. A mapping whose host port is still to be
// picked shows HostPort "" (or "8000-8010" for a range), as in Docker's
// HostConfig.PortBindings.
func PortsView(ms []Mapping) map[string][]Binding {
	view := make(map[string][]Binding, len(ms))
	for _, m := range ms {
		key := m.ContainerKey()
		view[key] = append(view[key], Binding{HostIp: BindAddr(m.HostIP).String(), HostPort: m.hostPortText()})
	}
	return view
}

// String is the mapping as a line of `docker port`: "80/tcp -> 0.0.0.0:8080"
// (docker/cli cli/command/container/port.go). A host port still to be picked
// shows as 0, a range as "8000-8010".
func (m Mapping) String() string {
	hostPort := m.hostPortText()
	if hostPort == "" {
		hostPort = "0"
	}
	return fmt.Sprintf("%s -> %s:%s", m.ContainerKey(), BindAddr(m.HostIP), hostPort)
}

// ContainerKey is the container side as Docker keys it: "80/tcp".
func (m Mapping) ContainerKey() string {
	return fmt.Sprintf("%d/%s", m.ContainerPort, m.Proto)
}

func (m Mapping) hostPortText() string {
	switch {
	case m.HostPort == 0:
		return ""
	case m.HostPortEnd > m.HostPort:
		return fmt.Sprintf("%d-%d", m.HostPort, m.HostPortEnd)
	default:
		return strconv.Itoa(int(m.HostPort))
	}
}

// Column is the mappings as `docker ps` shows them in its PORTS column:
// "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp".
func Column(ms []Mapping) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		hostPort := m.hostPortText()
		if hostPort == "" {
			hostPort = "0"
		}
		parts = append(parts, fmt.Sprintf("%s:%s->%s", BindAddr(m.HostIP), hostPort, m.ContainerKey()))
	}
	return strings.Join(parts, ", ")
}
