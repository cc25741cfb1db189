package etcdstore

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw       string
		endpoints []string
		prefix    string
	}{
		{"etcd://10.0.0.1:2379", []string{"10.0.0.1:2379"}, "/bpfnet/"},
		{"etcd://10.0.0.1", []string{"10.0.0.1:2379"}, "/bpfnet/"},
		{"etcd://h1:2379,h2:2380,h3", []string{"h1:2379", "h2:2380", "h3:2379"}, "/bpfnet/"},
		{"etcd://h1:2379/", []string{"h1:2379"}, "/bpfnet/"},
		{"etcd://h1:2379/clusters/east", []string{"h1:2379"}, "/clusters/east/"},
		{"etcd://h1:2379/east/", []string{"h1:2379"}, "/east/"},
		{"etcd://[::1]:2379,[fd00::2]", []string{"[::1]:2379", "[fd00::2]:2379"}, "/bpfnet/"},
	} {
		eps, prefix, err := ParseURL(tc.raw)
		if err != nil || !slices.Equal(eps, tc.endpoints) || prefix != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.raw, eps, prefix, err, tc.endpoints, tc.prefix)
		}
	}
	for raw, why := range map[string]string{
		"":                             "not a URL",
		"10.0.0.1:2379":                "not a URL",
		"http://10.0.0.1:2379":         `scheme "http" is not etcd`,
		"etcds://10.0.0.1:2379":        `scheme "etcds" is not etcd`,
		"etcd://":                      "no host",
		"etcd:///bpfnet":               "no host",
		"etcd://h1:2379,,h2":           "an empty host in the list",
		"etcd://h1:2379,":              "an empty host in the list",
		"etcd://h1:0":                  `port "0" is not a number from 1 to 65535`,
		"etcd://h1:65536":              `port "65536" is not a number from 1 to 65535`,
		"etcd://h1:x":                  `port "x" is not a number`,
		"etcd://:2379":                 "has no name or address",
		"etcd://h1:2379,h1:2379":       "endpoint h1:2379 given twice",
		"etcd://h1,h1:2379":            "endpoint h1:2379 given twice",
		"etcd://user@h1:2379":          "user names, queries and fragments",
		"etcd://h1:2379?x=1":           "user names, queries and fragments",
		"etcd://h1:2379/a//b":          "empty element in prefix",
		"etcd://h1 :2379":              "a space or control character",
		"etcd://h1:2379/a\x1b[2Jb":     "a space or control character",
		"etcd://::1:2379":              "too many colons",
		"etcd://h*st:2379":             `'*' is not a character of a host name`,
		"ETCD://h1:2379":               `scheme "ETCD" is not etcd`,
		"etcd://h1:2379:2380":          "too many colons",
		"etcd://h1:2379/\u00e9t\u00e9": "",
	} {
		_, _, err := ParseURL(raw)
		if why == "" {
			if err != nil {
				t.Errorf("ParseURL(%q): %v", raw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "etcd://HOST:2379") {
			t.Errorf("ParseURL(%q) = %v; want an error saying %q and the form", raw, err, why)
		}
	}
}

// Path gives the URL back.
func TestPathParses(t *testing.T) {
	s := &Store{endpoints: []string{"h1:2379", "[::1]:2379"}, prefix: "/east/"}
	eps, prefix, err := ParseURL(s.Path())
	if err != nil || !slices.Equal(eps, s.endpoints) || prefix != s.prefix {
		t.Errorf("ParseURL(%q) = %q, %q, %v", s.Path(), eps, prefix, err)
	}
}
