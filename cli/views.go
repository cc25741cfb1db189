package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
)

// The JSON shapes below are Docker's (docker network inspect, docker
// inspect), so tools written for Docker read bpfnet's output.

type ipamConfigView struct {
	Subnet  string `json:"Subnet,omitempty"`
	IPRange string `json:"IPRange,omitempty"`
	Gateway string `json:"Gateway,omitempty"`
}

type ipamView struct {
	Driver  string
	Options map[string]string
	Config  []ipamConfigView
}

type networkContainerView struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

type networkView struct {
	Name       string
	Id         string
	Created    string
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       ipamView
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigOnly bool
	Containers map[string]networkContainerView
	Options    map[string]string
	Labels     map[string]string
}

func viewNetwork(in *ctl.Instance, n *ctl.Network) (networkView, error) {
	v := networkView{
		Name: n.Name, Id: n.ID, Created: n.Created.Format("2006-01-02T15:04:05.999999999Z07:00"),
		Scope: "local", Driver: n.Driver, Internal: n.Internal,
		IPAM:       ipamView{Driver: "default", Config: []ipamConfigView{}},
		Containers: map[string]networkContainerView{},
		Options:    nonNil(n.Options), Labels: nonNil(n.Labels),
	}
	if n.IPAM.Subnet.IsValid() {
		cfg := ipamConfigView{Subnet: n.IPAM.Subnet.String(), Gateway: n.IPAM.Gateway.String()}
		if n.IPAM.IPRange.IsValid() {
			cfg.IPRange = n.IPAM.IPRange.String()
		}
		v.IPAM.Config = append(v.IPAM.Config, cfg)
	}
	attached, err := in.NetworkContainers(n)
	if err != nil {
		return v, err
	}
	for _, c := range attached {
		if ep := c.Endpoint(n.ID); ep != nil {
			v.Containers[c.ID] = networkContainerView{
				Name: c.Name, EndpointID: ep.ID, MacAddress: ep.MAC,
				IPv4Address: netip.PrefixFrom(ep.IP, n.IPAM.Subnet.Bits()).String(),
			}
		} else if c.Mode != "" && c.Mode == n.Name {
			v.Containers[c.ID] = networkContainerView{Name: c.Name}
		}
	}
	return v, nil
}

type ipamSettingsView struct {
	IPv4Address string
}

type endpointSettingsView struct {
	IPAMConfig  *ipamSettingsView // --ip's address; null when bpfnet chose it
	Links       []string
	Aliases     []string
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
	Interface   string `json:"Interface,omitempty"` // bpfnet: the name inside the container
}

// networkSettingsView: the top-level IPAddress, Gateway, MacAddress and
// IPPrefixLen are the default bridge's endpoint, empty on other networks,
// as in Docker.
type networkSettingsView struct {
	SandboxKey  string
	Ports       map[string][]ports.Binding
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	MacAddress  string
	Networks    map[string]endpointSettingsView
}

type hostConfigView struct {
	NetworkMode string
	// PortBindings is what each container port is bound to: the host
	// port chosen, where Docker's keeps "" for one it picks at start.
	PortBindings map[string][]ports.Binding
	Links        []string
}

type configView struct {
	Hostname     string
	ExposedPorts map[string]struct{}
}

// mountView is an entry of docker inspect's Mounts.
type mountView struct {
	Type        string // volume or bind
	Name        string `json:"Name,omitempty"`
	Source      string
	Destination string
	Driver      string `json:"Driver,omitempty"`
	Mode        string
	RW          bool
	Propagation string
}

type containerView struct {
	Id              string
	Created         string
	Name            string
	Mounts          []mountView
	Config          configView
	HostConfig      hostConfigView
	NetworkSettings networkSettingsView
}

func viewContainer(in *ctl.Instance, c *ctl.Container) (containerView, error) {
	published, err := in.Ports(c)
	if err != nil {
		return containerView{}, err
	}
	short := c.ID[:12]
	v := containerView{
		Id: c.ID, Created: c.Created.Format("2006-01-02T15:04:05.999999999Z07:00"), Name: "/" + c.Name,
		Config:     configView{Hostname: short, ExposedPorts: map[string]struct{}{}},
		HostConfig: hostConfigView{PortBindings: ports.PortsView(published)},
		NetworkSettings: networkSettingsView{
			SandboxKey: c.Netns, Ports: ports.PortsView(published), Networks: map[string]endpointSettingsView{},
		},
	}
	v.Mounts = viewMounts(in, c)
	for _, key := range c.Exposed {
		v.Config.ExposedPorts[key] = struct{}{}
	}
	for _, m := range published {
		v.Config.ExposedPorts[m.ContainerKey()] = struct{}{}
	}
	v.HostConfig.NetworkMode = c.Mode
	if c.SharesWith != "" {
		v.HostConfig.NetworkMode = "container:" + c.SharesWith
	}
	if c.Mode != "" {
		mode, _ := in.Network(c.Mode)
		v.NetworkSettings.Networks[c.Mode] = endpointSettingsView{NetworkID: mode.ID}
	}
	for _, ep := range c.Endpoints {
		n := in.NetworkByID(ep.NetworkID)
		if v.HostConfig.NetworkMode == "" {
			v.HostConfig.NetworkMode = n.Name
		}
		e := endpointSettingsView{
			Aliases: ep.Aliases, NetworkID: n.ID, EndpointID: ep.ID, Gateway: n.IPAM.Gateway.String(),
			IPAddress: ep.IP.String(), IPPrefixLen: n.IPAM.Subnet.Bits(), MacAddress: ep.MAC, Interface: ep.Ifname,
		}
		if ep.StaticIP {
			e.IPAMConfig = &ipamSettingsView{IPv4Address: ep.IP.String()}
		}
		if n.Predefined {
			s := &v.NetworkSettings
			s.IPAddress, s.IPPrefixLen, s.Gateway, s.MacAddress = e.IPAddress, e.IPPrefixLen, e.Gateway, e.MacAddress
		} else {
			// Docker names a container on a user-defined network by its
			// short ID too, and lists it among the aliases.
			e.Aliases = append(append([]string{}, ep.Aliases...), short)
		}
		v.NetworkSettings.Networks[n.Name] = e
	}
	return v, nil
}

func viewMounts(in *ctl.Instance, c *ctl.Container) []mountView {
	out := []mountView{}
	for _, m := range c.Mounts {
		mv := mountView{Type: "bind", Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly, Propagation: "rprivate"}
		if m.Volume {
			mv.Type, mv.Name, mv.Driver, mv.Propagation = "volume", m.Source, "local", ""
			if v, err := in.Volume(m.Source); err == nil {
				mv.Source = v.Data
			}
		}
		if m.ReadOnly {
			mv.Mode = "ro"
		}
		out = append(out, mv)
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", escapeJSONControls(data))
	return err
}

// inspectEach prints, as Docker's inspect does, a JSON array of the objects
// found (or each through --format's template) and then fails for the
// references that were not.
func inspectEach[V any](cmd *cobra.Command, formatFlag string, refs []string, view func(string) (V, error)) error {
	var zero V
	out, err := parseFormat(formatFlag, zero)
	if err != nil {
		return err
	}
	views := []V{}
	var errs []error
	for _, ref := range refs {
		v, err := view(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		views = append(views, v)
	}
	if out.custom() {
		err = out.write(cmd.OutOrStdout(), anyRows(views), nil)
	} else {
		err = writeJSON(cmd.OutOrStdout(), views)
	}
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// inspectFormatFlag is -f/--format of the inspect commands.
func inspectFormatFlag(cmd *cobra.Command, value *string) {
	cmd.Flags().StringVarP(value, "format", "f", "", `format output: "json" or a Go TEMPLATE (Docker's)`)
}
