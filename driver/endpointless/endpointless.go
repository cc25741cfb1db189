// Package endpointless holds the drivers whose containers have no
// endpoint: host (the container is the instance's host namespace) and
// null (a namespace of the container's own with only lo).
package endpointless

import (
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// Driver is a driver of one kind of endpointless network.
type Driver struct {
	name    string
	sandbox driver.Sandbox
}

func init() {
	driver.Register(Driver{model.DriverHost, driver.SandboxHost})
	driver.Register(Driver{model.DriverNull, driver.SandboxIsolated})
}

func (d Driver) Name() string            { return d.name }
func (d Driver) Sandbox() driver.Sandbox { return d.sandbox }

// Settings takes no option: there is nothing to set.
func (d Driver) Settings(opts map[string]string) (model.Settings, error) {
	for key := range opts {
		return model.Settings{}, fmt.Errorf("invalid option %q for the %s driver: it takes none", key, d.name)
	}
	return model.Settings{}, nil
}

func (Driver) CreateNetwork(driver.Env, *model.Network) error { return nil }
func (Driver) DeleteNetwork(driver.Env, *model.Network) error { return nil }
func (Driver) HostDevice(*model.Endpoint) string              { return "" }

func (d Driver) Join(driver.Env, *model.Container, *model.Network, *model.Endpoint, bool) error {
	return fmt.Errorf("the %s driver's networks have no endpoints", d.name)
}

func (Driver) Leave(driver.Env, *model.Container, *model.Network, *model.Endpoint) error { return nil }

func (Driver) Reload(driver.Env, *model.Network, *model.Endpoint, bool) error { return nil }

func (Driver) CheckEndpoint(driver.Env, *model.Endpoint, map[netip.Addr]loader.EndpointEntry, bool) (string, error) {
	return "", nil
}
