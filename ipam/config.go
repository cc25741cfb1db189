package ipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// Config is the IPAM configuration of one network.
type Config struct {
	Subnet  netip.Prefix // masked (network address)
	IPRange netip.Prefix // zero value: the whole subnet
	Gateway netip.Addr
}

// ParseConfig parses and validates the user's --subnet, --ip-range and
// --gateway ("" = not given) and picks the gateway when none is given.
//
// It checks in the order `docker network create` does, so that the first
// error is the one Docker would print:
//
//  1. parsing (bpfnet's own IPv6 refusal included);
//  2. the CLI's cross-checks of --ip-range and --gateway against --subnet;
//  3. the daemon's ValidateIPAM, all problems reported together;
//  4. bpfnet's own refusals (CheckUsable): special-purpose ranges, and
//     subnets smaller than a /30;
//  5. libnetwork's reservation of the gateway address.
//
// Docker's CLI parses --ip-range and --gateway with pflag, which rejects
// malformed values before the daemon sees them and silently masks the
// ip-range ("10.0.0.7/24" becomes "10.0.0.0/24"). bpfnet takes strings, so a
// malformed value gets the daemon's text instead, and the ip-range is masked
// as the CLI would.
//
// Docker's gateway, when none is given, is the first address its allocator
// hands out: the lowest address of the ip-range (of the subnet without one)
// that is not the subnet's network or broadcast address. For a /16 with no
// ip-range that is x.x.0.1; with --ip-range 172.20.10.0/24 it is 172.20.10.0.
// Docker accepts a /31 or /32 and reserves no network or broadcast address
// in them (RFC 3021, moby#42626): a /31's gateway is then its network
// address and a /32's its only one. bpfnet refuses both (ErrSubnetTooSmall):
// the gateway becomes a host address with the subnet's prefix, and neither
// leaves a usable host address for it.
func ParseConfig(subnet, ipRange, gateway string) (Config, error) {
	if subnet == "" {
		return Config{}, errors.New("no subnet given: pick one with NextSubnet first")
	}
	sub, rng, gw, err := parseFlags(subnet, ipRange, gateway)
	if err != nil {
		return Config{}, err
	}
	if err := crossCheck(sub, rng, gw); err != nil {
		return Config{}, err
	}
	if err := validateIPAM(sub, rng); err != nil {
		return Config{}, err
	}
	if err := CheckUsable(sub); err != nil {
		return Config{}, err
	}
	cfg := Config{Subnet: sub.Masked(), IPRange: rng}
	if err := cfg.reserveGateway(gw, gateway); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseFlags parses the three values. Texts: api/types/network/ipam.go
// (ValidateIPAM, validateIPRange, validateAddress), wrapped as ValidateIPAM
// wraps them.
func parseFlags(subnet, ipRange, gateway string) (netip.Prefix, netip.Prefix, netip.Addr, error) {
	var (
		sub, rng netip.Prefix
		gw       netip.Addr
		err      error
	)
	if sub, err = netip.ParsePrefix(subnet); err != nil {
		return sub, rng, gw, invalidNetworkConfig(fmt.Errorf("invalid subnet %s: invalid CIDR block notation", subnet))
	}
	if !sub.Addr().Is4() {
		return sub, rng, gw, fmt.Errorf("invalid subnet %s: %w", subnet, ErrIPv6NotSupported)
	}
	var problems []error
	if ipRange != "" {
		if rng, err = netip.ParsePrefix(ipRange); err != nil {
			problems = append(problems, fmt.Errorf("invalid ip-range %s: invalid CIDR block notation", ipRange))
		} else if !rng.Addr().Is4() {
			return sub, rng, gw, fmt.Errorf("invalid ip-range %s: %w", ipRange, ErrIPv6NotSupported)
		} else {
			rng = rng.Masked()
		}
	}
	if gateway != "" {
		if gw, err = netip.ParseAddr(gateway); err != nil {
			problems = append(problems, fmt.Errorf("invalid gateway %s: invalid address", gateway))
		} else if !gw.Is4() {
			return sub, rng, gw, fmt.Errorf("invalid gateway %s: %w", gateway, ErrIPv6NotSupported)
		}
	}
	if len(problems) > 0 {
		return sub, rng, gw, invalidNetworkConfig(problems...)
	}
	return sub, rng, gw, nil
}

// crossCheck is the docker CLI's createIPAMConfig (docker/cli
// cli/command/network/create.go): it runs before the daemon is asked, so its
// texts are the ones users see for a range or gateway outside the subnet. Like
// the CLI, it only asks whether the range's first address is in the subnet; a
// range larger than the subnet is the daemon's to refuse.
func crossCheck(sub, rng netip.Prefix, gw netip.Addr) error {
	if rng.IsValid() && !sub.Contains(rng.Addr()) {
		return fmt.Errorf("no matching subnet for range %s", rng)
	}
	if gw.IsValid() && !sub.Contains(gw) {
		return fmt.Errorf("no matching subnet for gateway %s", gw)
	}
	return nil
}

// validateIPAM is what remains of the daemon's ValidateIPAM
// (api/types/network/ipam.go) once crossCheck has passed. Docker 25+ refuses a
// subnet with host bits set; older versions masked it silently.
func validateIPAM(sub, rng netip.Prefix) error {
	var problems []error
	if sub != sub.Masked() {
		problems = append(problems, fmt.Errorf("invalid subnet %s: it should be %s", sub, sub.Masked()))
	}
	if rng.IsValid() && rng.Bits() < sub.Bits() {
		problems = append(problems, fmt.Errorf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", rng, sub))
	}
	if len(problems) > 0 {
		return invalidNetworkConfig(problems...)
	}
	return nil
}

func invalidNetworkConfig(problems ...error) error {
	return fmt.Errorf("invalid network config:\n%w", joinedErrors(problems))
}

// reserveGateway takes the given gateway, or picks Docker's, as libnetwork's
// ipamAllocateVersion does (daemon/libnetwork/network.go): "failed to allocate
// gateway (%v): %v", where %v is the user's --gateway, empty when none.
func (c *Config) reserveGateway(gw netip.Addr, given string) error {
	if gw.IsValid() {
		if isNetworkOrBroadcast(c.Subnet, gw) {
			return fmt.Errorf("failed to allocate gateway (%s): %w", given, ErrAddressInUse)
		}
		c.Gateway = gw
		return nil
	}
	first, ok := c.firstFree(nil)
	if !ok {
		return fmt.Errorf("failed to allocate gateway (%s): %w", given, ErrNoAvailableIPs)
	}
	c.Gateway = first
	return nil
}
