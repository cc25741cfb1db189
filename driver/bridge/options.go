package bridge

import (
	"fmt"
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
)

var optionAliases = map[string]string{
	"icc":                  OptICC,
	"enable_icc":           OptICC,
	"mtu":                  OptMTU,
	"enable_ip_masquerade": OptMasquerade,
	"masquerade":           OptMasquerade,
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
		default:
			return s, fmt.Errorf("invalid option %q for the bridge driver: known options are icc, mtu, enable_ip_masquerade (or their com.docker.network.* names)", key)
		}
		if err != nil {
			return s, fmt.Errorf("invalid value %q for option %s: %w", value, key, err)
		}
	}
	return s, nil
}
