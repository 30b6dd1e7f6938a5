package baremetal

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// Issue 17, item 4: a pool overlapping the cluster's Service CIDRs hands out nothing, and says why.
func TestPoolOverlappingServiceCIDRIsRefused(t *testing.T) {
	cidrs := []serviceCIDR{
		{prefix: netip.MustParsePrefix("10.96.0.0/16"), source: `ServiceCIDR "kubernetes"`},
		{prefix: netip.MustParsePrefix("fd00:10:96::/108"), source: `ServiceCIDR "kubernetes"`},
	}
	for _, tt := range []struct {
		addrs []string
		want  string // "" if the pool stays in force
	}{
		{[]string{"198.51.100.0/24"}, ""},
		{[]string{"10.97.0.0/16", "fd00:10:96::10:0:0/112"}, ""},
		{[]string{"198.51.100.0/24", "10.96.200.0/24"}, "entry 10.96.200.0/24 overlaps the cluster's Service CIDR 10.96.0.0/16 (ServiceCIDR \"kubernetes\")"},
		{[]string{"10.95.255.250-10.96.0.3"}, "entry 10.95.255.250-10.96.0.3 overlaps the cluster's Service CIDR 10.96.0.0/16"},
		{[]string{"10.0.0.0/8"}, "entry 10.0.0.0/8 overlaps the cluster's Service CIDR 10.96.0.0/16"},
		{[]string{"fd00:10:96::7/128"}, "entry fd00:10:96::7/128 overlaps the cluster's Service CIDR fd00:10:96::/108"},
	} {
		views, defs := admitPools(refuseServiceCIDRs([]poolView{viewPool(newPool("p", tt.addrs))}, cidrs))
		v := views[0]
		if tt.want == "" {
			if v.invalid != "" || len(defs) != 1 {
				t.Errorf("pool %v refused: %s", tt.addrs, v.invalid)
			}
			continue
		}
		if v.invalidReason != v1alpha1.IPPoolReasonServiceCIDROverlap || !strings.Contains(v.invalid, tt.want) {
			t.Errorf("pool %v: reason %q message %q, want ServiceCIDROverlap containing %q", tt.addrs, v.invalidReason, v.invalid, tt.want)
		}
		if len(defs) != 0 {
			t.Errorf("pool %v was admitted", tt.addrs)
		}
	}
}
