package v1alpha1

import (
	"errors"
	"net/netip"
	"regexp"
	"testing"
)

// dnsSubdomain is the rule custom resource names must follow (k8s.io/apimachinery
// validation.IsDNS1123Subdomain, without the length limit, which no address reaches).
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func TestIPAllocationName(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"198.51.100.7", "198.51.100.7"},
		{"0.0.0.0", "0.0.0.0"},
		{"2001:db8::7", "2001-db8--7"},
		{"2001:DB8:0:0:0:0:0:7", "2001-db8--7"},
		{"::1", "0--1"},
		{"::", "0--0"},
		{"2001:db8::", "2001-db8--0"},
		{"fe80::1:0:0:1", "fe80--1-0-0-1"},
		{"2001:db8:1:2:3:4:5:6", "2001-db8-1-2-3-4-5-6"},
		{"64:ff9b::c633:6407", "64-ff9b--c633-6407"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			got := IPAllocationName(a)
			if got != tt.want {
				t.Fatalf("IPAllocationName(%s) = %q, want %q", tt.addr, got, tt.want)
			}
			if !dnsSubdomain.MatchString(got) {
				t.Errorf("IPAllocationName(%s) = %q is not a DNS subdomain", tt.addr, got)
			}
			back, err := ParseIPAllocationName(got)
			if err != nil || back != a {
				t.Errorf("ParseIPAllocationName(%q) = %v, %v; want %v", got, back, err, a)
			}
		})
	}
}

func TestParseIPAllocationNameRejects(t *testing.T) {
	for _, name := range []string{
		"",
		"2001:db8::7",          // colons: the address, not its name
		"2001-DB8--7",          // upper case
		"2001-db8-0-0-0-0-0-7", // not compressed
		"--1",                  // not a DNS subdomain; the name is 0--1
		"2001-db8--",           // likewise; the name is 2001-db8--0
		"0--ffff-198.51.100.7", // IPv4-mapped
		"198.051.100.7",        // leading zero
		"fe80--1%eth0",         // zone
		"ippool-a",
		"198-51-100-7",
	} {
		t.Run(name, func(t *testing.T) {
			a, err := ParseIPAllocationName(name)
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ParseIPAllocationName(%q) = %v, %v; want an error matching ErrInvalidName", name, a, err)
			}
		})
	}
}

// FuzzIPAllocationName checks that names and addresses map one to one: every address that can
// be allocated has a DNS-subdomain name that parses back to it, and every accepted name is the
// name of what it parses to.
func FuzzIPAllocationName(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "2001-db8--7", "0--1", "2001-db8--0", "0--0", "0.0.0.0",
		"fe80--1", "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff", "1-2-3-4-5-6-7-8", "0--ffff-1.2.3.4"} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		if a, err := ParseIPAllocationName(name); err == nil {
			if got := IPAllocationName(a); got != name {
				t.Fatalf("ParseIPAllocationName(%q) = %v, whose name is %q", name, a, got)
			}
		}
		a, ok := netip.AddrFromSlice(raw)
		if !ok || a.Is4In6() {
			return
		}
		n := IPAllocationName(a)
		if !dnsSubdomain.MatchString(n) {
			t.Fatalf("IPAllocationName(%v) = %q is not a DNS subdomain", a, n)
		}
		back, err := ParseIPAllocationName(n)
		if err != nil || back != a {
			t.Fatalf("ParseIPAllocationName(IPAllocationName(%v) = %q) = %v, %v", a, n, back, err)
		}
	})
}
