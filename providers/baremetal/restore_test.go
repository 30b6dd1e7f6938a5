package baremetal

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// TestRestoreKeepsOldCrossNamespaceShare: an IPAllocation naming Services of two namespaces, as
// an older version left it, restores without a conflict; both live Services are told, in words
// that name neither the other Service nor its namespace nor the key, when their pool does not
// allow the share, and nobody is told when it does, or when only one of them is left.
func TestRestoreKeepsOldCrossNamespaceShare(t *testing.T) {
	a := newService("alpha", objects.WithNamespace("tenant-a"), objects.WithAnnotations(AnnotationAllowSharedIP, "team"))
	b := newService("bravo", objects.WithNamespace("tenant-b"), objects.WithAnnotations(AnnotationAllowSharedIP, "team"),
		objects.WithPorts(tcp(443)))
	share := func(pool, addr string, svcs ...*v1.Service) *v1alpha1.IPAllocation {
		o := &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(mustAddr(addr))},
			Spec: v1alpha1.IPAllocationSpec{Address: addr, Pool: pool, SharingKey: "team"}}
		for _, s := range svcs {
			o.Spec.Services = append(o.Spec.Services, refOf(s.Namespace, s.Name, s.UID))
		}
		return o
	}
	gone := newService("gone", objects.WithNamespace("tenant-c"))
	goneHere := newService("gone", objects.WithNamespace("tenant-a"))
	for _, tc := range []struct {
		name string
		obj  *v1alpha1.IPAllocation
		want []string // Services told
	}{
		{"pool without cross-namespace sharing", share("closed", "198.51.100.1", a, b), []string{"tenant-a/alpha", "tenant-b/bravo"}},
		{"pool with cross-namespace sharing", share("open", "203.0.113.1", a, b), nil},
		// The holder that is gone has no backend to share with alpha's: restored first (its
		// "stale:" owner name sorts before "tenant-a/"), it kept alpha out with a false
		// AllocationConflict.
		{"one Service left of the share", share("closed", "198.51.100.1", a, gone), nil},
		{"one Service left of a share in its namespace", share("closed", "198.51.100.1", a, goneHere), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alloc, err := allocator.NewIPAllocator([]allocator.Pool{
				{Name: "closed", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/29")}},
				{Name: "open", CIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/29")}, ShareAcrossScopes: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			probs, _, kept := restore(alloc, []*v1alpha1.IPAllocation{tc.obj}, []*v1.Service{a, b}, func(*v1.Service) bool { return true })
			if len(probs) > 0 {
				t.Errorf("restore problems: %v", probs)
			}
			if got := alloc.Addresses(ownerKey(a)); len(got) != 1 || got[0] != mustAddr(tc.obj.Spec.Address) {
				t.Errorf("%s holds %v, want %s", ownerKey(a), got, tc.obj.Spec.Address)
			}
			var told []string
			for _, k := range kept {
				told = append(told, k.service)
				other := "bravo"
				if strings.HasPrefix(k.service, "tenant-b/") {
					other = "alpha"
				}
				for _, leak := range []string{other, "tenant-", "team"} {
					if strings.Contains(k.message(), leak) {
						t.Errorf("%s is told %q, which shows %q", k.service, k.message(), leak)
					}
				}
			}
			if diff := cmp.Diff(tc.want, told); diff != "" {
				t.Errorf("Services told (-want +got):\n%s", diff)
			}
			for _, s := range []*v1.Service{a, b} {
				if got := alloc.Addresses(ownerKey(s)); tc.obj.Spec.Services[1].Name == "bravo" &&
					!cmp.Equal(got, []netip.Addr{mustAddr(tc.obj.Spec.Address)}, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })) {
					t.Errorf("%s holds %v, want %s", ownerKey(s), got, tc.obj.Spec.Address)
				}
			}
		})
	}
}
