//go:build integration

package baremetal_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

// IP plan: Service CIDRs 10.96.0.0/16 and fd00:10:96::/108 (lab/controlplane); LoadBalancer pools in
// 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/64 (documentation ranges). Nothing is routed.

// env is a control plane with the frontdesk CRDs installed.
type env struct {
	c    *controlplane.Cluster
	kube kubernetes.Interface
	api  client.Interface
	cfg  *rest.Config
}

func newEnv(t testing.TB, opts ...controlplane.Option) *env {
	t.Helper()
	c := controlplane.Start(t, opts...)
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 500, 1000 // tests create Services in bursts; the default 5 QPS would dominate
	// Built-in types as protobuf, as the cloud-controller-manager's clients use them (the
	// frontdesk.dev client switches itself to JSON).
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := crds.Install(ctx, cfg); err != nil {
		t.Fatalf("installing CRDs: %v", err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	api, err := client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{c: c, kube: kube, api: api, cfg: cfg}
}

// controller is one in-process frontdesk controller: the bare-metal provider and our service
// controller, as the cloud-controller-manager wires them, without leader election (tests that want
// two at once get two).
type controller struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
	cloud  *baremetal.Cloud
}

func (e *env) startController(t testing.TB) *controller {
	t.Helper()
	return e.startControllerWith(t, func(cfg *service.Config) {
		cfg.MinRetryDelay, cfg.MaxRetryDelay = 50*time.Millisecond, 2*time.Second
	})
}

// startControllerWith starts a controller whose service controller configuration tweak changes.
func (e *env) startControllerWith(t testing.TB, tweak func(*service.Config)) *controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &controller{cancel: cancel, cloud: baremetal.New(baremetal.Options{RepairInterval: 2 * time.Second, StatusInterval: 200 * time.Millisecond})}
	if err := k.cloud.Start(ctx, e.cfg); err != nil {
		cancel()
		t.Fatalf("starting the provider: %v", err)
	}
	factory := informers.NewSharedInformerFactory(e.kube, 0)
	lb, _ := k.cloud.LoadBalancer()
	cfg := service.DefaultConfig()
	tweak(&cfg)
	sc, err := service.New(lb, e.kube, factory, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	k.done.Add(1)
	go func() { defer k.done.Done(); sc.Run(ctx, 10) }()
	t.Cleanup(k.stop)
	return k
}

// stop ends the controller as a SIGTERM would, and waits for its workers.
func (k *controller) stop() {
	k.cancel()
	k.done.Wait()
}

// createNamespaces creates the namespaces, for tests with Services outside default.
func (e *env) createNamespaces(t testing.TB, names ...string) {
	t.Helper()
	for _, ns := range names {
		if _, err := e.kube.CoreV1().Namespaces().Create(context.Background(),
			&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating namespace %s: %v", ns, err)
		}
	}
}

func (e *env) createPool(t testing.TB, name string, addrs ...string) *v1alpha1.IPPool {
	t.Helper()
	p, err := e.api.IPPools().Create(context.Background(), &v1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.IPPoolSpec{Addresses: addrs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating IPPool %s: %v", name, err)
	}
	return p
}

// lbService is a LoadBalancer Service default/name with empty (non-nil) annotations, selector
// app=<name> and one TCP port, http 80 → 8080; tweaks change it.
func lbService(name string, tweaks ...func(*v1.Service)) *v1.Service {
	return objects.Service("default", name, append([]func(*v1.Service){
		objects.WithAnnotations(),
		objects.LoadBalancer,
		objects.WithSelector(map[string]string{"app": name}),
		objects.WithPorts(v1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}),
	}, tweaks...)...)
}

func (e *env) create(t testing.TB, s *v1.Service) {
	t.Helper()
	if _, err := e.kube.CoreV1().Services(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s: %v", s.Name, err)
	}
}

// waitIngress waits until the Service has n ingress addresses and returns them.
func (e *env) waitIngress(t testing.TB, name string, n int, timeout time.Duration) []netip.Addr {
	t.Helper()
	return e.waitIngressIn(t, "default", name, n, timeout)
}

// waitIngressIn is waitIngress for the Service ns/name.
func (e *env) waitIngressIn(t testing.TB, ns, name string, n int, timeout time.Duration) []netip.Addr {
	t.Helper()
	var got []netip.Addr
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		s, err := e.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // a transient API error: keep polling until the deadline
		}
		got = ingressOf(s)
		return len(got) == n, nil
	})
	if err != nil {
		t.Fatalf("Service %s/%s: want %d ingress addresses, have %v after %s", ns, name, n, got, timeout)
	}
	return got
}

func ingressOf(s *v1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// waitEvent waits for an Event of the given reason on the Service whose message contains want.
func (e *env) waitEvent(t testing.TB, svc, reason, want string) v1.Event {
	t.Helper()
	return e.waitEventIn(t, "default", svc, reason, want)
}

// waitEventIn is waitEvent for the Service ns/svc.
func (e *env) waitEventIn(t testing.TB, ns, svc, reason, want string) v1.Event {
	t.Helper()
	var found v1.Event
	var seen []string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + svc})
		if err != nil {
			return false, nil //nolint:nilerr // a transient API error: keep polling until the deadline
		}
		seen = seen[:0]
		for _, ev := range evs.Items {
			seen = append(seen, ev.Reason+": "+ev.Message)
			if ev.Reason == reason && contains(ev.Message, want) {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s Event on %s/%s containing %q; events: %v", reason, ns, svc, want, seen)
	}
	return found
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// assertDistinct fails if two Services share an ingress address without a sharing key, and returns
// who holds each address.
func (e *env) assertDistinct(t testing.TB) map[netip.Addr]string {
	t.Helper()
	owner, err := e.distinct()
	if err != nil {
		t.Fatal(err)
	}
	return owner
}

// distinct is assertDistinct for goroutines other than the test's, which must not call t.Fatal.
func (e *env) distinct() (map[netip.Addr]string, error) {
	svcs, err := e.kube.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	owner := map[netip.Addr]string{}
	for _, s := range svcs.Items {
		for _, a := range ingressOf(&s) {
			if prev, dup := owner[a]; dup && s.Annotations[baremetal.AnnotationAllowSharedIP] == "" {
				return nil, fmt.Errorf("address %s is given to both %s and %s/%s", a, prev, s.Namespace, s.Name)
			}
			owner[a] = s.Namespace + "/" + s.Name
		}
	}
	return owner, nil
}

func svcName(i int) string { return fmt.Sprintf("svc-%03d", i) }

func mustParse(s string) netip.Addr { return netip.MustParseAddr(s) }

// waitEventCount waits until the Events of the given reason on the Service count n or more
// (repeats of one Event are counted in its count, as the event recorder aggregates them).
func (e *env) waitEventCount(t testing.TB, svc, reason string, n int32, timeout time.Duration) {
	t.Helper()
	var have int32
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		evs, err := e.kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + svc})
		if err != nil {
			return false, nil //nolint:nilerr // a transient API error: keep polling until the deadline
		}
		have = 0
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				have += max(ev.Count, 1)
			}
		}
		return have >= n, nil
	})
	if err != nil {
		t.Fatalf("%d %s Events on %s after %s, want %d", have, reason, svc, timeout, n)
	}
}
