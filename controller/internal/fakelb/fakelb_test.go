package fakelb

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func service(name string) *v1.Service {
	return objects.Service("ns", name, objects.WithUID(types.UID("uid-"+name)),
		objects.WithPorts(v1.ServicePort{Protocol: v1.ProtocolTCP, Port: 80}))
}

func nodes(names ...string) []*v1.Node {
	var out []*v1.Node
	for _, n := range names {
		out = append(out, objects.Node(n, objects.NoConditions)) // a bare name: no conditions
	}
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	f := New()
	a, b := service("a"), service("b")

	st, err := f.EnsureLoadBalancer(ctx, "c", a, nodes("n2", "n1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: "192.0.2.1"}}}, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if _, err := f.EnsureLoadBalancer(ctx, "c", b, nodes("n1")); err != nil {
		t.Fatal(err)
	}
	// Ensuring again keeps the address.
	if st, _ := f.EnsureLoadBalancer(ctx, "c", a, nodes("n1")); st.Ingress[0].IP != "192.0.2.1" {
		t.Errorf("re-ensure moved the address to %s", st.Ingress[0].IP)
	}
	if err := f.UpdateLoadBalancer(ctx, "c", b, nodes("n3", "n1")); err != nil {
		t.Fatal(err)
	}
	want := []LB{
		{Name: f.GetLoadBalancerName(ctx, "c", a), Service: types.NamespacedName{Namespace: "ns", Name: "a"}, UID: "uid-a",
			Nodes: []string{"n1"}, Ports: []string{"TCP/80"}, Addr: netip.MustParseAddr("192.0.2.1")},
		{Name: f.GetLoadBalancerName(ctx, "c", b), Service: types.NamespacedName{Namespace: "ns", Name: "b"}, UID: "uid-b",
			Nodes: []string{"n1", "n3"}, Ports: []string{"TCP/80"}, Addr: netip.MustParseAddr("192.0.2.2")},
	}
	if diff := cmp.Diff(want, f.LoadBalancers(), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("load balancers (-want +got):\n%s", diff)
	}

	if err := f.EnsureLoadBalancerDeleted(ctx, "c", a); err != nil {
		t.Fatal(err)
	}
	if _, exists, _ := f.GetLoadBalancer(ctx, "c", a); exists {
		t.Error("deleted load balancer still exists")
	}
	if err := f.UpdateLoadBalancer(ctx, "c", a, nodes("n1")); err == nil {
		t.Error("updating a deleted load balancer succeeded")
	}
	// A freed address is handed out again.
	if st, _ := f.EnsureLoadBalancer(ctx, "c", service("c"), nil); st.Ingress[0].IP != "192.0.2.1" {
		t.Errorf("new load balancer got %s, want the freed 192.0.2.1", st.Ingress[0].IP)
	}
}

func TestInjectedErrors(t *testing.T) {
	ctx := context.Background()
	f := New()
	a, b := service("a"), service("b")
	boom, bad := errors.New("boom"), errors.New("bad input")

	f.FailNext(OpEnsure, 2, boom)
	f.FailFor(types.NamespacedName{Namespace: "ns", Name: "b"}, bad)
	for i := range 2 {
		if _, err := f.EnsureLoadBalancer(ctx, "c", a, nil); !errors.Is(err, boom) {
			t.Errorf("call %d: err = %v, want boom", i, err)
		}
	}
	if _, err := f.EnsureLoadBalancer(ctx, "c", a, nil); err != nil {
		t.Errorf("third call: %v, want success", err)
	}
	if err := f.EnsureLoadBalancerDeleted(ctx, "c", b); !errors.Is(err, bad) {
		t.Errorf("delete for b: err = %v, want bad input", err)
	}
	f.ClearFailures()
	if _, err := f.EnsureLoadBalancer(ctx, "c", b, nil); err != nil {
		t.Errorf("after ClearFailures: %v", err)
	}
	if got := f.Calls(OpEnsure); got != 4 {
		t.Errorf("Calls(OpEnsure) = %d, want 4", got)
	}
	if _, err := f.EnsureLoadBalancer(ctx, "c", &v1.Service{}, nil); err == nil {
		t.Error("a Service without ports was accepted")
	}
}

// TestHold runs in a synctest bubble: "the held call has not returned" is checked once the call's
// goroutine is provably blocked (synctest.Wait), not after a sleep.
func TestHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New()
		a := service("a")
		release := f.Hold(types.NamespacedName{Namespace: "ns", Name: "a"})

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := f.EnsureLoadBalancer(ctx, "c", a, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("held call returned %v, want the context's error", err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.EnsureLoadBalancer(context.Background(), "c", a, nil)
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("held call returned (%v) before release", err)
		default:
		}
		release()
		release() // idempotent
		if err := <-done; err != nil {
			t.Errorf("released call: %v", err)
		}
	})
}
