package main

import "testing"

func TestParseAddr(t *testing.T) {
	sa, err := parseAddr("172.17.0.2:7000")
	if err != nil || sa.Port != 7000 || sa.Addr != [4]byte{172, 17, 0, 2} {
		t.Fatalf("parseAddr = %+v, %v", sa, err)
	}
	sa, err = parseAddr(":7000")
	if err != nil || sa.Addr != [4]byte{} {
		t.Fatalf("parseAddr(:7000) = %+v, %v; want any address", sa, err)
	}
	for _, bad := range []string{"1.2.3.4", "1.2.3.4:0", "1.2.3.4:70000", "[::1]:80", "host:80"} {
		if _, err := parseAddr(bad); err == nil {
			t.Errorf("parseAddr(%q) accepted", bad)
		}
	}
}
