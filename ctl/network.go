package ctl

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/bpfnet/bpfnet/driver"
	bridgedrv "github.com/bpfnet/bpfnet/driver/bridge"

	"github.com/bpfnet/bpfnet/ipam"
	"github.com/bpfnet/bpfnet/store"
)

// NetworkSpec is what `network create` asks for.
type NetworkSpec struct {
	Name     string
	Driver   string // "" means bridge
	Subnet   string
	Gateway  string
	IPRange  string
	Internal bool
	Options  map[string]string
	Labels   map[string]string
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// Networks returns the networks sorted by name.
func (in *Instance) Networks() []*Network {
	out := make([]*Network, 0, len(in.state.Networks))
	for _, n := range in.state.Networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Network finds a network by name, full ID or unique ID prefix, as Docker does.
func (in *Instance) Network(ref string) (*Network, error) {
	var byPrefix []*Network
	for _, n := range in.state.Networks {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			byPrefix = append(byPrefix, n)
		}
	}
	if len(byPrefix) == 1 {
		return byPrefix[0], nil
	}
	if len(byPrefix) > 1 {
		return nil, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(byPrefix))
	}
	return nil, notFound(fmt.Sprintf("network %s not found", ref))
}

// networkNamed is the network called name, or nil: a new name is compared
// with names only, never taken for an ID prefix (Docker's rule).
func (in *Instance) networkNamed(name string) *Network {
	for _, n := range in.state.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (in *Instance) subnets() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range in.state.Networks {
		if n.IPAM.Subnet.IsValid() {
			out = append(out, n.IPAM.Subnet)
		}
	}
	return out
}

func (in *Instance) nextNetworkNumber() uint32 {
	used := map[uint32]bool{}
	for _, n := range in.state.Networks {
		used[n.Number] = true
	}
	num := uint32(1)
	for used[num] {
		num++
	}
	return num
}

// CreateNetwork creates a network of a driver whose containers have
// endpoints, and gives the host what the network needs (a gateway).
func (in *Instance) CreateNetwork(spec NetworkSpec) (*Network, error) {
	name := spec.Driver
	if name == "" {
		name = DriverBridge
	}
	d, err := in.drivers.Lookup(name)
	if err != nil {
		return nil, err
	}
	if d.Sandbox() != driver.SandboxEndpoints {
		return nil, fmt.Errorf("only one instance of %q network is allowed", name)
	}
	if spec.Name == "" {
		return nil, fmt.Errorf("network name must not be empty")
	}
	if err := checkNetworkName(spec.Name); err != nil {
		return nil, err
	}
	if in.networkNamed(spec.Name) != nil {
		return nil, fmt.Errorf("network with name %s already exists", spec.Name)
	}
	settings, err := d.Settings(spec.Options)
	if err != nil {
		return nil, err
	}
	n := &Network{
		ID: newID(), Name: spec.Name, Driver: d.Name(), Created: time.Now().UTC(),
		Internal: spec.Internal, Settings: settings, Options: spec.Options, Labels: spec.Labels,
		Number: in.nextNetworkNumber(), UserSubnet: spec.Subnet != "",
	}
	if n.IPAM, err = in.networkIPAM(spec); err != nil {
		return nil, err
	}
	if err := in.begin(Intent{Op: "network create " + n.Name}); err != nil {
		return nil, err
	}
	defer in.end()
	if err := d.CreateNetwork(in.env(), n); err != nil {
		return nil, err
	}
	if err := in.commit(store.Change{PutNetworks: []*Network{n}}); err != nil {
		_ = d.DeleteNetwork(in.env(), n)
		return nil, err
	}
	return n, nil
}

// networkIPAM validates the user's addressing or picks Docker's next
// default pool that neither a network nor a host route uses.
func (in *Instance) networkIPAM(spec NetworkSpec) (ipam.Config, error) {
	subnet := spec.Subnet
	if subnet == "" {
		if spec.IPRange != "" || spec.Gateway != "" {
			return ipam.Config{}, ipam.ErrMissingSubnet
		}
		routed, err := in.machine.Routes()
		if err != nil {
			return ipam.Config{}, err
		}
		p, err := ipam.NextSubnet(ipam.DefaultPools, in.subnets(), routed)
		if err != nil {
			return ipam.Config{}, err
		}
		subnet = p.String()
	}
	cfg, err := ipam.ParseConfig(subnet, spec.IPRange, spec.Gateway)
	if err != nil {
		return cfg, err
	}
	if err := ipam.CheckOverlap(cfg.Subnet, in.subnets()); err != nil {
		return cfg, err
	}
	if err := in.checkHostAddrs(cfg.Subnet); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// RemoveNetwork removes an unused user-defined network.
func (in *Instance) RemoveNetwork(ref string) error {
	n, err := in.Network(ref)
	if err != nil {
		return err
	}
	if n.Predefined {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name)
	}
	users, err := in.networkUsers(n)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("error while removing network: network %s has active endpoints (%s)", n.Name, strings.Join(users, ", "))
	}
	if err := in.begin(Intent{Op: "network rm " + n.Name}); err != nil {
		return err
	}
	defer in.end()
	d, err := in.driverOf(n)
	if err != nil {
		return err
	}
	if err := d.DeleteNetwork(in.env(), n); err != nil {
		return err
	}
	if err := in.commit(store.Change{DeleteNetworks: []string{n.ID}}); err != nil {
		_ = d.CreateNetwork(in.env(), n)
		return err
	}
	return nil
}

// networkUsers names the containers attached to n: through the address
// index for a network with endpoints, by reading all for host and none.
func (in *Instance) networkUsers(n *Network) ([]string, error) {
	d, err := in.driverOf(n)
	if err != nil {
		return nil, err
	}
	var users []string
	if d.Sandbox() == driver.SandboxEndpoints {
		ids, err := in.store.NetworkContainers(n.ID)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			c, err := in.containerByID(id)
			if errors.Is(err, ErrNotFound) {
				return nil, in.damaged(fmt.Errorf("the address index of network %s names container %q, which has no record", n.Name, id))
			}
			if err != nil {
				return nil, err
			}
			users = append(users, c.Name)
		}
	} else {
		all, err := in.allContainers()
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if c.Mode == n.Name {
				users = append(users, c.Name)
			}
		}
	}
	sort.Strings(users)
	return users, nil
}

// NetworkContainers returns the containers attached to n, by name.
func (in *Instance) NetworkContainers(n *Network) ([]*Container, error) {
	names, err := in.networkUsers(n)
	if err != nil {
		return nil, err
	}
	out := make([]*Container, 0, len(names))
	for _, name := range names {
		c, err := in.Container(name)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// PruneNetworks removes every user-defined network that no container uses
// and that match takes (prune's --filter), and returns their names.
func (in *Instance) PruneNetworks(match func(*Network) bool) ([]string, error) {
	var removed []string
	for _, n := range in.Networks() {
		if n.Predefined || !match(n) {
			continue
		}
		users, err := in.networkUsers(n)
		if err != nil {
			return removed, err
		}
		if len(users) > 0 {
			continue
		}
		if err := in.RemoveNetwork(n.ID); err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	return removed, nil
}

// ensurePredefined creates bridge, host and none on first use. The default
// bridge takes 172.17.0.0/16 unless the host routes it (docker0), then the
// next free default pool.
func (in *Instance) ensurePredefined() error {
	if in.networkNamed(NetworkBridge) != nil {
		return nil
	}
	cfg, err := in.networkIPAM(NetworkSpec{})
	if err != nil {
		return err
	}
	d, err := in.drivers.Lookup(DriverBridge)
	if err != nil {
		return err
	}
	settings, err := d.Settings(nil)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	bridge := &Network{
		ID: newID(), Name: NetworkBridge, Driver: d.Name(), Created: now, Predefined: true,
		Number: in.nextNetworkNumber(), IPAM: cfg, Settings: settings,
		// As Docker's inspect shows its default bridge.
		Options: map[string]string{
			"com.docker.network.bridge.default_bridge": "true",
			bridgedrv.OptICC:        fmt.Sprint(settings.ICC),
			bridgedrv.OptMasquerade: fmt.Sprint(settings.Masquerade),
			bridgedrv.OptMTU:        fmt.Sprint(settings.MTU),
			bridgedrv.OptName:       bridgedrv.GatewayDevice,
		},
	}
	host := &Network{ID: newID(), Name: NetworkHost, Driver: DriverHost, Created: now, Predefined: true}
	none := &Network{ID: newID(), Name: NetworkNone, Driver: DriverNull, Created: now, Predefined: true}
	if err := in.begin(Intent{Op: "create the predefined networks"}); err != nil {
		return err
	}
	defer in.end()
	if err := d.CreateNetwork(in.env(), bridge); err != nil {
		return err
	}
	if err := in.commit(store.Change{PutNetworks: []*Network{bridge, host, none}}); err != nil {
		_ = d.DeleteNetwork(in.env(), bridge)
		return err
	}
	return nil
}
