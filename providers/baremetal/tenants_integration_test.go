//go:build integration

package baremetal_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

// Issue 17, item 2: a sharing key is its namespace's own. Tenant B, whose pools hold tenant A's
// address and who knows (or guesses) A's key, neither joins A's address nor reads anything of A
// in its Events; an IPPool that allows cross-namespace sharing lets them share, and when it stops
// allowing it keeps their share, tells them, and lets no one else join.
func TestSharingKeyStaysInItsNamespace(t *testing.T) {
	e := newEnv(t)
	e.createNamespaces(t, "tenant-a", "tenant-b")
	e.createPool(t, "everyone", "198.51.100.40/30")
	e.startController(t)

	const secret = "a-private-key"
	aAddr := e.waitIngressIn(t, "tenant-a", e.createIn(t, "tenant-a", "alpha-web", secret, "198.51.100.40", 80), 1, 20*time.Second)[0]

	// B asks for A's address with A's key, then with a guess: refused both times, and the
	// Events say nothing of A (namespace, Service, key).
	for _, c := range []struct{ name, key string }{{"bravo-knows", secret}, {"bravo-guesses", "guess"}} {
		e.createIn(t, "tenant-b", c.name, c.key, aAddr.String(), 443)
		ev := e.waitEventIn(t, "tenant-b", c.name, service.EventSyncLoadBalancerFailed, "another namespace")
		for _, leak := range []string{"tenant-a", "alpha-web", secret} {
			if c.key != leak && strings.Contains(ev.Message, leak) {
				t.Errorf("the Event of tenant-b/%s shows %q of tenant A: %s", c.name, leak, ev.Message)
			}
		}
	}
	// With A's key and no address asked for, B gets an address of its own.
	got := e.waitIngressIn(t, "tenant-b", e.createIn(t, "tenant-b", "bravo-any", secret, "", 443), 1, 20*time.Second)[0]
	if got == aAddr {
		t.Errorf("tenant-b/bravo-any joined tenant A's address %s with A's key", aAddr)
	}
	for _, name := range []string{"bravo-knows", "bravo-guesses"} {
		if s, err := e.kube.CoreV1().Services("tenant-b").Get(context.Background(), name, metav1.GetOptions{}); err != nil || len(s.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("tenant-b/%s: ingress %v (err %v), want none", name, s.Status.LoadBalancer.Ingress, err)
		}
	}
	holders := e.holdersOf(t, aAddr)
	if !slices.Equal(holders, []string{"tenant-a/alpha-web"}) {
		t.Errorf("IPAllocation %s names %v, want tenant-a/alpha-web only", aAddr, holders)
	}

	// A pool whose namespaces trust each other allows it.
	p := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "trusting"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"203.0.113.8/30"}, AllowCrossNamespaceSharing: true}}
	if _, err := e.api.IPPools().Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	shared := e.waitIngressIn(t, "tenant-a", e.createIn(t, "tenant-a", "alpha-api", "team-key", "203.0.113.8", 80), 1, 20*time.Second)[0]
	joined := e.waitIngressIn(t, "tenant-b", e.createIn(t, "tenant-b", "bravo-api", "team-key", "203.0.113.8", 443), 1, 20*time.Second)[0]
	if joined != shared {
		t.Errorf("in a pool that allows cross-namespace sharing tenant-b/bravo-api got %s, want the shared %s", joined, shared)
	}

	// The pool stops allowing it: the share is kept, both are told, and no one else joins.
	p, err := e.api.IPPools().Get(context.Background(), "trusting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.AllowCrossNamespaceSharing = false
	if _, err := e.api.IPPools().Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ ns, name string }{{"tenant-a", "alpha-api"}, {"tenant-b", "bravo-api"}} {
		e.waitEventIn(t, s.ns, s.name, baremetal.EventCrossNamespaceShareKept, "no longer allows")
	}
	e.createIn(t, "tenant-b", "bravo-late", "team-key", "203.0.113.8", 8443)
	e.waitEventIn(t, "tenant-b", "bravo-late", service.EventSyncLoadBalancerFailed, "another namespace")
	if holders := e.holdersOf(t, shared); !slices.Equal(holders, []string{"tenant-a/alpha-api", "tenant-b/bravo-api"}) {
		t.Errorf("IPAllocation %s names %v after the pool edit, want tenant-a/alpha-api and tenant-b/bravo-api", shared, holders)
	}
}

// createIn creates a LoadBalancer Service ns/name with sharing key key on port, asking for addr
// unless it is empty, and returns its name.
func (e *env) createIn(t *testing.T, ns, name, key, addr string, port int32) string {
	t.Helper()
	ann := []string{baremetal.AnnotationAllowSharedIP, key}
	if addr != "" {
		ann = append(ann, baremetal.AnnotationLoadBalancerIPs, addr)
	}
	s := lbService(name, objects.WithNamespace(ns), objects.WithAnnotations(ann...), func(s *v1.Service) {
		s.Spec.Ports[0].Port = port
	})
	e.create(t, s)
	return name
}

// holdersOf returns the namespace/name of the Services the IPAllocation of a names.
func (e *env) holdersOf(t *testing.T, a netip.Addr) []string {
	t.Helper()
	o, err := e.api.IPAllocations().Get(context.Background(), v1alpha1.IPAllocationName(a), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range o.Spec.Services {
		out = append(out, r.Namespace+"/"+r.Name)
	}
	return out
}
