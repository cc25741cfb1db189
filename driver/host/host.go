// Package host is the host driver: a container on the host network is the
// instance's host namespace itself, with no endpoint of its own.
package host

import (
	"fmt"
	"net/netip"

	"github.com/bpfnet/bpfnet/driver"
	"github.com/bpfnet/bpfnet/loader"
	"github.com/bpfnet/bpfnet/model"
)

// Driver is the host driver.
type Driver struct{}

func init() { driver.Register(Driver{}) }

func (Driver) Name() string            { return model.DriverHost }
func (Driver) Sandbox() driver.Sandbox { return driver.SandboxHost }

// Settings takes no option: the host's network is what it is.
func (Driver) Settings(opts map[string]string) (model.Settings, error) {
	for key := range opts {
		return model.Settings{}, fmt.Errorf("invalid option %q for the host driver: it takes none", key)
	}
	return model.Settings{}, nil
}

func (Driver) CreateNetwork(driver.Env, *model.Network) error { return nil }
func (Driver) DeleteNetwork(driver.Env, *model.Network) error { return nil }
func (Driver) HostDevice(*model.Endpoint) string              { return "" }

func (Driver) Join(driver.Env, *model.Container, *model.Network, *model.Endpoint, bool) error {
	return fmt.Errorf("the host network has no endpoints")
}

func (Driver) Leave(driver.Env, *model.Container, *model.Network, *model.Endpoint) error { return nil }

func (Driver) Reload(driver.Env, *model.Network, *model.Endpoint, bool) error { return nil }

func (Driver) CheckEndpoint(driver.Env, *model.Endpoint, map[netip.Addr]loader.EndpointEntry, bool) (string, error) {
	return "", nil
}
