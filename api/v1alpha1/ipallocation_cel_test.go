package v1alpha1_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func allocation(name, address, pool string) *v1alpha1.IPAllocation {
	return &v1alpha1.IPAllocation{
		TypeMeta:   metaType("IPAllocation"),
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.IPAllocationSpec{
			Address: address,
			Pool:    pool,
			Services: []v1alpha1.ServiceRef{
				{Namespace: "default", Name: "web", UID: "3f6c1d2e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"},
			},
		},
	}
}

func wrongName(name, address string) string {
	return fmt.Sprintf("spec.address: Invalid value: metadata.name must be %s, the name of address %s "+
		"(IPv6 addresses are named with - for :, as in 2001-db8--7 for 2001:db8::7)", name, address)
}

// ipAllocationCases are shared with the integration test. old, if set, is the object being
// updated (same name).
var ipAllocationCases = []struct {
	name string
	obj  *v1alpha1.IPAllocation
	old  *v1alpha1.IPAllocation
	want []string
}{
	{name: "IPv4", obj: allocation("198.51.100.7", "198.51.100.7", "a")},
	{name: "IPv6", obj: allocation("2001-db8--7", "2001:db8::7", "a")},
	{name: "IPv6 ending in ::", obj: allocation("2001-db8--0", "2001:db8::", "a")},
	{name: "IPv6 starting with ::", obj: allocation("0--7", "::7", "a")},
	{name: "name of another address", obj: allocation("198.51.100.8", "198.51.100.7", "a"), want: []string{
		wrongName("198.51.100.7", "198.51.100.7")}},
	{name: "IPv6 name of another address", obj: allocation("2001-db8--7", "2001:db8::8", "a"), want: []string{
		wrongName("2001-db8--8", "2001:db8::8")}},
	{name: "IPv6 not canonical", obj: allocation("2001-db8--7", "2001:DB8:0::7", "a"), want: []string{
		`spec.address: Invalid value: "2001:DB8:0::7": not in canonical form: write it in lower case with the longest run of zero groups as ::, as in 2001:db8::7`}},
	{name: "not an address", obj: allocation("web", "web", "a"), want: []string{
		`spec.address: Invalid value: "web": not an IP address; want an IPv4 or IPv6 address in canonical form, such as 198.51.100.7 or 2001:db8::7`}},
	{name: "sharing update", obj: func() *v1alpha1.IPAllocation {
		a := allocation("198.51.100.7", "198.51.100.7", "a")
		a.Spec.SharingKey = "k"
		a.Spec.Services = append(a.Spec.Services, v1alpha1.ServiceRef{Namespace: "default", Name: "dns", UID: "8a1f"})
		return a
	}(), old: allocation("198.51.100.7", "198.51.100.7", "a")},
	{name: "address changed", obj: allocation("198.51.100.7", "198.51.100.9", "a"), old: allocation("198.51.100.7", "198.51.100.7", "a"), want: []string{
		wrongName("198.51.100.9", "198.51.100.9"),
		`spec.address: Invalid value: "198.51.100.9": spec.address is immutable: release this IPAllocation and create one for the other address`}},
	{name: "pool changed", obj: allocation("198.51.100.7", "198.51.100.7", "b"), old: allocation("198.51.100.7", "198.51.100.7", "a"), want: []string{
		`spec.pool: Invalid value: "b": spec.pool is immutable: release this IPAllocation and allocate from the other pool`}},
}

func TestIPAllocationCEL(t *testing.T) {
	v := newCELValidator(t, "IPAllocation")
	for _, tt := range ipAllocationCases {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if tt.old == nil {
				got = v.validate(t, tt.obj, nil) // a nil *IPAllocation is not a nil runtime.Object
			} else {
				got = v.validate(t, tt.obj, tt.old)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
		})
	}
}

// TestIPAllocationNameCELAgreesWithGo checks that the CRD accepts IPAllocationName(a) as the
// name of a, and no other name, for addresses with "::" in every place.
func TestIPAllocationNameCELAgreesWithGo(t *testing.T) {
	v := newCELValidator(t, "IPAllocation")
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 300; i++ {
		a := randomBase(rng)
		if a.Is4In6() {
			continue
		}
		name := v1alpha1.IPAllocationName(a)
		if got := v.validate(t, allocation(name, a.String(), "a"), nil); len(got) != 0 {
			t.Errorf("address %s, name %s: %q", a, name, got)
		}
		other := v1alpha1.IPAllocationName(a.Next())
		if a.Next().IsValid() && len(v.validate(t, allocation(other, a.String(), "a"), nil)) == 0 {
			t.Errorf("address %s accepted under the name %s", a, other)
		}
	}
	for _, s := range []string{"::", "::1", "1::", "0.0.0.0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		a := netip.MustParseAddr(s)
		if got := v.validate(t, allocation(v1alpha1.IPAllocationName(a), a.String(), "a"), nil); len(got) != 0 {
			t.Errorf("address %s: %q", a, got)
		}
	}
}
