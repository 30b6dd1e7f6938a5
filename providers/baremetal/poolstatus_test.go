package baremetal

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func TestPoolStatusShrunkPool(t *testing.T) {
	pool := newPool("blue", []string{"198.51.100.0/31"})
	lb := newTestBalancer(t, nil, nil, pool)
	a, b := newService("a"), newService("b")
	mustEnsure(t, lb, a)
	mustEnsure(t, lb, b)

	st := poolStatus(pool, lb.pools.views()[0], lb.alloc.Stats(), lb.alloc.Orphans())
	if st.CapacityIPv4 != "2" || st.AssignedIPv4 != 2 || st.CapacityIPv6 != "0" {
		t.Fatalf("status counts = %+v, want capacity 2, assigned 2", st)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.IPPoolConditionExhausted); c == nil || c.Status != "True" {
		t.Fatalf("Exhausted = %+v, want True", c)
	}

	// The admin shrinks the pool: the address in use stays, and the status says so.
	shrunk := newPool("blue", []string{"198.51.100.0/32"})
	views, defs := admitPools([]poolView{viewPool(shrunk)})
	if err := lb.alloc.SetPools(defs); err != nil {
		t.Fatal(err)
	}
	lb.pools.set(views)
	before := a.Status.LoadBalancer.Ingress[0].IP + b.Status.LoadBalancer.Ingress[0].IP
	mustEnsure(t, lb, a)
	mustEnsure(t, lb, b)
	if after := a.Status.LoadBalancer.Ingress[0].IP + b.Status.LoadBalancer.Ingress[0].IP; after != before {
		t.Fatalf("shrinking the pool moved addresses: %s -> %s", before, after)
	}
	shrunk.Status = st
	st = poolStatus(shrunk, views[0], lb.alloc.Stats(), lb.alloc.Orphans())
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.IPPoolConditionAddressesOutsideSpec)
	if c == nil || c.Status != "True" || !strings.Contains(c.Message, "198.51.100.1 (held by default/") {
		t.Fatalf("AddressesOutsideSpec = %+v, want True naming 198.51.100.1 and its Service", c)
	}
	if st.CapacityIPv4 != "1" || st.AssignedIPv4 != 1 {
		t.Fatalf("after shrinking: capacity %s assigned %d, want 1 and 1", st.CapacityIPv4, st.AssignedIPv4)
	}
}
