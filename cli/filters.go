package cli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
)

// filters is the --filter values of a listing by key. Values of one key
// are ORed, keys are ANDed, as in Docker (its filters.Args).
type filters map[string][]string

// parseFilters reads KEY=VALUE arguments, refusing keys not in known.
func parseFilters(args []string, known ...string) (filters, error) {
	f := filters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		if !contains(known, k) {
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		if k == "name" || k == "id" {
			if _, err := regexp.Compile(v); err != nil {
				return nil, fmt.Errorf("invalid filter '%s=%s': %w", k, v, err)
			}
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// any is true when key has no values, or ok takes one of them.
func (f filters) any(key string, ok func(string) bool) bool {
	if len(f[key]) == 0 {
		return true
	}
	for _, v := range f[key] {
		if ok(v) {
			return true
		}
	}
	return false
}

// matches is Docker's name and id matching: each value is a regular
// expression found anywhere in the text ("^web" anchors it).
func matches(pattern, text string) bool {
	ok, err := regexp.MatchString(pattern, text)
	return err == nil && ok
}

// labelMatch is "k" (the label is set) or "k=v" (set to v).
func labelMatch(labels map[string]string, v string) bool {
	k, want, hasValue := strings.Cut(v, "=")
	got, ok := labels[k]
	return ok && (!hasValue || got == want)
}

var networkFilterKeys = []string{"name", "driver", "label", "id", "type", "scope"}

func (f filters) matchNetwork(n *ctl.Network) bool {
	return f.any("name", func(v string) bool { return matches(v, n.Name) }) &&
		f.any("driver", func(v string) bool { return n.Driver == v }) &&
		f.any("id", func(v string) bool { return matches(v, n.ID) }) &&
		f.any("scope", func(v string) bool { return v == "local" }) &&
		f.any("type", func(v string) bool { return (v == "builtin") == n.Predefined }) &&
		f.any("label", func(v string) bool { return labelMatch(n.Labels, v) })
}

var pruneFilterKeys = []string{"label", "label!", "until"}

// pruneMatch is `network prune --filter`: label=, label!= and until= (a
// time, Unix seconds or a duration before now), each key ANDed.
func (f filters) pruneMatch(now time.Time) (func(*ctl.Network) bool, error) {
	var until []time.Time
	for _, v := range f["until"] {
		t, err := parseUntil(v, now)
		if err != nil {
			return nil, err
		}
		until = append(until, t)
	}
	return func(n *ctl.Network) bool {
		for _, t := range until {
			if !n.Created.Before(t) {
				return false
			}
		}
		for _, v := range f["label!"] {
			if labelMatch(n.Labels, v) {
				return false
			}
		}
		return f.any("label", func(v string) bool { return labelMatch(n.Labels, v) })
	}, nil
}

// parseUntil reads Docker's timestamps: RFC 3339 (date alone too), Unix
// seconds (with fractions), or a Go duration counted back from now.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(secs*float64(time.Second))), nil
	}
	return time.Time{}, fmt.Errorf("invalid filter 'until=%s': want a time (RFC 3339), Unix seconds or a duration such as 24h", v)
}

var containerFilterKeys = []string{"name", "id", "network", "publish", "expose"}

// matchContainer is `container ls --filter`. publish= and expose= take a
// container port, a range or either with /proto (80, 80/udp, 8000-8010),
// as Docker's; exposed ports are the published ones and --expose's.
func (f filters) matchContainer(c *ctl.Container, row containerRow, published []ports.Mapping) (bool, error) {
	portMatch := func(v string, published []ports.Mapping) (bool, error) {
		want, err := ports.Parse(v)
		if err != nil {
			return false, fmt.Errorf("invalid filter '%s': %w", v, err)
		}
		for _, w := range want {
			for _, m := range published {
				if m.ContainerPort == w.ContainerPort && m.Proto == w.Proto {
					return true, nil
				}
			}
		}
		return false, nil
	}
	exposed := append([]ports.Mapping{}, published...)
	for _, key := range c.Exposed {
		if m, err := ports.Parse(key); err == nil {
			exposed = append(exposed, m...)
		}
	}
	for key, ms := range map[string][]ports.Mapping{"publish": published, "expose": exposed} {
		ok := len(f[key]) == 0
		for _, v := range f[key] {
			hit, err := portMatch(v, ms)
			if err != nil {
				return false, err
			}
			ok = ok || hit
		}
		if !ok {
			return false, nil
		}
	}
	return f.any("name", func(v string) bool { return matches(v, c.Name) }) &&
		f.any("id", func(v string) bool { return matches(v, c.ID) }) &&
		f.any("network", func(v string) bool {
			for _, ep := range c.Endpoints {
				if ep.NetworkID == v {
					return true
				}
			}
			return contains(strings.Split(row.Networks, ","), v)
		}), nil
}
