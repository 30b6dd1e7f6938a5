//go:build integration

package baremetal_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/poll"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

// Issue 17, item 2, on upgrade: before sharing keys became per namespace, Services of two
// namespaces could share an address by key in any pool. A cluster upgraded with such a share
// keeps it: both Services keep serving on the address (no outage the operator did not ask for),
// through restarts, and both are told once per start, with a Warning Event, that the share is
// kept only because it predates the rule and what to set to allow it. No other Service joins it
// across namespaces, and once one of them leaves it, it is not taken back.
func TestUpgradeKeepsCrossNamespaceShare(t *testing.T) {
	e := newEnv(t)
	e.createNamespaces(t, "tenant-a", "tenant-b")
	e.createPool(t, "everyone", "198.51.100.40/30")
	shared := netip.MustParseAddr("198.51.100.41")

	// What the older version left: both Services in status with the address, one IPAllocation
	// naming both under their common key. alpha asked for the address; bravo joined by key.
	alpha := e.oldShare(t, "tenant-a", "alpha-web", 80, shared, baremetal.AnnotationAllowSharedIP, "team", baremetal.AnnotationLoadBalancerIPs, shared.String())
	bravo := e.oldShare(t, "tenant-b", "bravo-web", 443, shared, baremetal.AnnotationAllowSharedIP, "team")
	if _, err := e.api.IPAllocations().Create(context.Background(), &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(shared)},
		Spec: v1alpha1.IPAllocationSpec{Address: shared.String(), Pool: "everyone", SharingKey: "team",
			Services: []v1alpha1.ServiceRef{
				{Namespace: alpha.Namespace, Name: alpha.Name, UID: alpha.UID},
				{Namespace: bravo.Namespace, Name: bravo.Name, UID: bravo.UID},
			}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	both := func() string {
		for _, s := range []*v1.Service{alpha, bravo} {
			cur, err := e.kube.CoreV1().Services(s.Namespace).Get(context.Background(), s.Name, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if got := ingressOf(cur); !slices.Equal(got, []netip.Addr{shared}) {
				return fmt.Sprintf("%s/%s has ingress %v, want %s", s.Namespace, s.Name, got, shared)
			}
		}
		if h := e.holdersOf(t, shared); !slices.Equal(h, []string{"tenant-a/alpha-web", "tenant-b/bravo-web"}) {
			return fmt.Sprintf("IPAllocation %s names %v, want both Services", shared, h)
		}
		return ""
	}
	for start := range 2 { // the upgrade, then a restart of the new version
		k := e.startController(t)
		for _, s := range []*v1.Service{alpha, bravo} {
			ev := e.waitEventIn(t, s.Namespace, s.Name, baremetal.EventCrossNamespaceShareKept, "allowCrossNamespaceSharing")
			for _, leak := range []string{"alpha-web", "bravo-web", "tenant-a", "tenant-b", "team"} {
				if strings.Contains(ev.Message, leak) {
					t.Errorf("start %d: the Event of %s/%s shows %q: %s", start, s.Namespace, s.Name, leak, ev.Message)
				}
			}
		}
		// Past two repair passes (2 s apart) and the service controller's resyncs, nothing moves.
		poll.Consistently(t, 5*time.Second, both)
		for _, s := range []*v1.Service{alpha, bravo} {
			evs, err := e.kube.CoreV1().Events(s.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + s.Name})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs.Items {
				if ev.Type == v1.EventTypeWarning && ev.Reason != baremetal.EventCrossNamespaceShareKept {
					t.Errorf("start %d: %s/%s got %s: %s", start, s.Namespace, s.Name, ev.Reason, ev.Message)
				}
			}
		}
		k.stop()
	}

	// The share is kept, not opened: a third Service of tenant-b with the key is refused.
	k := e.startController(t)
	e.createIn(t, "tenant-b", "bravo-new", "team", shared.String(), 8443)
	e.waitEventIn(t, "tenant-b", "bravo-new", service.EventSyncLoadBalancerFailed, "another namespace")
	// bravo leaves the address (its key changes); asking for it back is refused.
	e.annotate(t, bravo, baremetal.AnnotationAllowSharedIP, "other")
	moved := e.waitIngressNot(t, bravo, shared)
	e.annotate(t, bravo, baremetal.AnnotationAllowSharedIP, "team", baremetal.AnnotationLoadBalancerIPs, shared.String())
	e.waitEventIn(t, "tenant-b", "bravo-web", service.EventSyncLoadBalancerFailed, "another namespace")
	if cur, err := e.kube.CoreV1().Services("tenant-b").Get(context.Background(), "bravo-web", metav1.GetOptions{}); err != nil ||
		!slices.Equal(ingressOf(cur), []netip.Addr{moved}) {
		t.Errorf("tenant-b/bravo-web: ingress %v (err %v), want %s kept while it is refused", ingressOf(cur), err, moved)
	}
	// bravo's claim goes once its status no longer names the address (a later Ensure, or repair).
	testkit.Eventually(t, 20*time.Second, 50*time.Millisecond, func() string {
		if h := e.holdersOf(t, shared); !slices.Equal(h, []string{"tenant-a/alpha-web"}) {
			return fmt.Sprintf("IPAllocation %s names %v, want tenant-a/alpha-web only", shared, h)
		}
		return ""
	})
	k.stop()
}

// oldShare creates the LoadBalancer Service ns/name on port with the annotations (key, value
// pairs) and the status an older version gave it: the finalizer and nothing else in its
// ingress but addr.
func (e *env) oldShare(t *testing.T, ns, name string, port int32, addr netip.Addr, ann ...string) *v1.Service {
	t.Helper()
	s := lbService(name, objects.WithNamespace(ns), objects.WithAnnotations(ann...), func(s *v1.Service) {
		s.Finalizers = []string{"service.kubernetes.io/load-balancer-cleanup"}
		s.Spec.Ports[0].Port = port
	})
	created, err := e.kube.CoreV1().Services(ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip := v1.LoadBalancerIPModeVIP
	created.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: addr.String(), IPMode: &vip}}
	created, err = e.kube.CoreV1().Services(ns).UpdateStatus(context.Background(), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// annotate sets the annotations (key, value pairs) on the Service.
func (e *env) annotate(t *testing.T, s *v1.Service, ann ...string) {
	t.Helper()
	cur, err := e.kube.CoreV1().Services(s.Namespace).Get(context.Background(), s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objects.WithAnnotations(ann...)(cur)
	if _, err := e.kube.CoreV1().Services(s.Namespace).Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitIngressNot waits until the Service has one ingress address other than a, and returns it.
func (e *env) waitIngressNot(t *testing.T, s *v1.Service, a netip.Addr) netip.Addr {
	t.Helper()
	var got netip.Addr
	testkit.Eventually(t, 20*time.Second, 20*time.Millisecond, func() string {
		cur, err := e.kube.CoreV1().Services(s.Namespace).Get(context.Background(), s.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		in := ingressOf(cur)
		if len(in) == 1 && in[0] != a {
			got = in[0]
			return ""
		}
		return fmt.Sprintf("%s/%s has ingress %v, want one address other than %s", s.Namespace, s.Name, in, a)
	})
	return got
}
