package ctl

import (
	"fmt"
	"strings"
)

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
