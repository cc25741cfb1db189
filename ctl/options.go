package ctl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfnet/bpfnet/model"
)

// Docker's names of the bridge driver options, and the short names bpfnet
// also accepts.
const (
	optICC        = "com.docker.network.bridge.enable_icc"
	optMTU        = "com.docker.network.driver.mtu"
	optMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
)

var optionAliases = map[string]string{
	"icc":                  optICC,
	"enable_icc":           optICC,
	"mtu":                  optMTU,
	"enable_ip_masquerade": optMasquerade,
	"masquerade":           optMasquerade,
}

const (
	defaultMTU = 1500
	minMTU     = 68 // IPv4's minimum
	maxMTU     = 65535
)

// ParseBridgeOptions resolves --opt key=value pairs; unknown keys and bad
// values are errors, so a typo never silently yields a default.
func ParseBridgeOptions(opts map[string]string) (model.Settings, error) {
	s := model.Settings{ICC: true, MTU: defaultMTU, Masquerade: true}
	for key, value := range opts {
		name := key
		if full, ok := optionAliases[key]; ok {
			name = full
		}
		var err error
		switch name {
		case optICC:
			s.ICC, err = strconv.ParseBool(value)
		case optMasquerade:
			s.Masquerade, err = strconv.ParseBool(value)
		case optMTU:
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

// ParseKeyValues turns repeated "k=v" flags into a map; a bare "k" maps to "".
func ParseKeyValues(what string, pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid %s %q: want key=value", what, p)
		}
		m[k] = v
	}
	return m, nil
}
