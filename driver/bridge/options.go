package bridge

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/bpfnet/bpfnet/model"
)

// Docker's names of the bridge driver options, and the short names bpfnet
// also accepts.
const (
	OptICC        = "com.docker.network.bridge.enable_icc"
	OptMTU        = "com.docker.network.driver.mtu"
	OptMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	OptName       = "com.docker.network.bridge.name"
	OptHostIPv4   = "com.docker.network.bridge.host_binding_ipv4"
)

var optionAliases = map[string]string{
	"icc":                  OptICC,
	"enable_icc":           OptICC,
	"mtu":                  OptMTU,
	"enable_ip_masquerade": OptMasquerade,
	"masquerade":           OptMasquerade,
	"host_binding_ipv4":    OptHostIPv4,
}

const (
	DefaultMTU = 1500
	minMTU     = 68 // IPv4's minimum
	maxMTU     = 65535
)

// Settings resolves --opt key=value pairs; unknown keys and bad
// values are errors, so a typo never silently yields a default.
func (Driver) Settings(opts map[string]string) (model.Settings, error) {
	s := model.Settings{ICC: true, MTU: DefaultMTU, Masquerade: true}
	for key, value := range opts {
		name := key
		if full, ok := optionAliases[key]; ok {
			name = full
		}
		var err error
		switch name {
		case OptICC:
			s.ICC, err = strconv.ParseBool(value)
		case OptMasquerade:
			s.Masquerade, err = strconv.ParseBool(value)
		case OptMTU:
			s.MTU, err = strconv.Atoi(value)
			if err == nil && (s.MTU < minMTU || s.MTU > maxMTU) {
				err = fmt.Errorf("out of range %d-%d", minMTU, maxMTU)
			}
		case OptHostIPv4:
			s.HostBindingIPv4, err = hostBinding(value)
		default:
			return s, fmt.Errorf("invalid option %q for the bridge driver: known options are icc, mtu, enable_ip_masquerade, host_binding_ipv4 (or their com.docker.network.* names)", key)
		}
		if err != nil {
			return s, fmt.Errorf("invalid value %q for option %s: %w", value, key, err)
		}
	}
	return s, nil
}

// hostBinding reads host_binding_ipv4: an IPv4 address; 0.0.0.0 is
// every address, as no option.
func hostBinding(value string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(value)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("not an IPv4 address")
	}
	if ip.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return ip, nil
}
