package baremetal

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/allocator"
)

func TestPlanFamilies(t *testing.T) {
	v4, v6 := v1.IPv4Protocol, v1.IPv6Protocol
	tests := []struct {
		name      string
		svc       *v1.Service
		requested []netip.Addr
		want      familyPlan
		wantErr   bool
	}{
		{name: "default single stack", svc: newService("a"),
			want: familyPlan{families: []allocator.Family{allocator.IPv4}, requireAll: true}},
		{name: "IPv6 single stack", svc: newService("a", withFamilies(v1.IPFamilyPolicySingleStack, v6)),
			want: familyPlan{families: []allocator.Family{allocator.IPv6}, requireAll: true}},
		{name: "prefer dual stack keeps the order", svc: newService("a", withFamilies(v1.IPFamilyPolicyPreferDualStack, v6, v4)),
			want: familyPlan{families: []allocator.Family{allocator.IPv6, allocator.IPv4}}},
		{name: "require dual stack", svc: newService("a", withFamilies(v1.IPFamilyPolicyRequireDualStack, v4, v6)),
			want: familyPlan{families: []allocator.Family{allocator.IPv4, allocator.IPv6}, requireAll: true}},
		{name: "requested addresses choose the families",
			svc: newService("a", withFamilies(v1.IPFamilyPolicyRequireDualStack, v4, v6)), requested: addrs("2001:db8::1"),
			want: familyPlan{families: []allocator.Family{allocator.IPv6}, requireAll: true}},
		{name: "requested family the Service lacks", svc: newService("a"), requested: addrs("2001:db8::1"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planFamilies(tt.svc, tt.requested)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(familyPlan{})); !tt.wantErr && diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
