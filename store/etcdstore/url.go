package etcdstore

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// DefaultPrefix is the key prefix of a store URL without a path.
const DefaultPrefix = "/bpfnet/"

// ParseURL reads a --store value, etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]:
// the client endpoints (host:port, port 2379 when not given) and the key
// prefix (DefaultPrefix when not given; one per cluster).
func ParseURL(raw string) (endpoints []string, prefix string, err error) {
	bad := func(format string, args ...any) ([]string, string, error) {
		return nil, "", fmt.Errorf("store %q: %s (want etcd://HOST:2379[,HOST:2379...][/PREFIX])", raw, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(raw, "etcd://")
	if !ok {
		scheme, _, found := strings.Cut(raw, "://")
		if !found {
			return bad("not a URL")
		}
		return bad("scheme %q is not etcd", scheme)
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < 0x21 || r == 0x7f }); i >= 0 {
		return bad("a space or control character at %d", len("etcd://")+i)
	}
	if strings.ContainsAny(rest, "?#@") {
		return bad("user names, queries and fragments are not supported")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return bad("no host")
	}
	for _, h := range strings.Split(hosts, ",") {
		ep, err := endpoint(h)
		if err != nil {
			return bad("%v", err)
		}
		if slices.Contains(endpoints, ep) {
			return bad("endpoint %s given twice", ep)
		}
		endpoints = append(endpoints, ep)
	}
	prefix = DefaultPrefix
	if path = strings.Trim(path, "/"); path != "" {
		if strings.Contains(path, "//") {
			return bad("empty element in prefix /%s", path)
		}
		prefix = "/" + path + "/"
	}
	return endpoints, prefix, nil
}

// endpoint checks one HOST[:PORT] of a store URL.
func endpoint(h string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("an empty host in the list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		if strings.Count(h, ":") > 0 && !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
			return "", fmt.Errorf("host %q: %v", h, strings.TrimPrefix(err.Error(), "address "+h+": "))
		}
		host, port = strings.Trim(h, "[]"), "2379"
	}
	if host == "" {
		return "", fmt.Errorf("host %q has no name or address", h)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("host %q: port %q is not a number from 1 to 65535", h, port)
	}
	for _, r := range host {
		if !(r == '.' || r == '-' || r == ':' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", fmt.Errorf("host %q: %q is not a character of a host name or address", h, r)
		}
	}
	return net.JoinHostPort(host, port), nil
}
