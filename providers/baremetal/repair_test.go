package baremetal

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestRepairReleasesOnlyAfterSeveralPasses(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/30"}))
	a, gone := newService("a"), newService("gone")
	mustEnsure(t, lb, a)
	mustEnsure(t, lb, gone)
	live := map[string]*v1.Service{"a": a}
	lookup := func(_, name string) (*v1.Service, bool) { s, ok := live[name]; return s, ok }
	served := func(*v1.Service) bool { return true }

	r := newRepairer(lb.balancer)
	for i := 1; i < staleRounds; i++ {
		if n := r.pass(context.Background(), lb.api.list(), lookup, served); n != 0 {
			t.Fatalf("pass %d released %d holders, want 0 before %d passes", i, n, staleRounds)
		}
	}
	if n := r.pass(context.Background(), lb.api.list(), lookup, served); n != 1 {
		t.Fatalf("pass %d released %d holders, want 1", staleRounds, n)
	}
	if len(lb.api.holders()) != 1 || len(lb.alloc.Addresses("default/gone")) != 0 {
		t.Fatalf("after repair: objects %v, memory of gone %v", lb.api.holders(), lb.alloc.Addresses("default/gone"))
	}

	// A Service that reappears between passes resets the count.
	b := newService("b")
	mustEnsure(t, lb, b)
	r.pass(context.Background(), lb.api.list(), lookup, served)
	live["b"] = b
	for range staleRounds {
		r.pass(context.Background(), lb.api.list(), lookup, served)
	}
	if len(lb.api.holders()) != 2 {
		t.Fatalf("a Service seen again lost its address: %v", lb.api.holders())
	}
}
