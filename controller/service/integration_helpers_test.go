//go:build integration

package service

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// env is one control plane shared by the scenarios of a test; each scenario
// gets its own namespace and its own controller, stopped when it ends.
type env struct {
	cluster *controlplane.Cluster
	admin   kubernetes.Interface
	// ctrlClient has the permissions of the API server's bootstrap role
	// system:controller:service-controller, the role cloud-provider's
	// controller runs with: what frontdesk must make do with too.
	ctrlClient kubernetes.Interface
	// writes counts the controller's write requests, by "METHOD path".
	writes *requestCounter
}

func newEnv(t *testing.T) *env {
	c := controlplane.Start(t)
	cfg := c.ConfigForServiceAccount(t, "kube-system", "service-controller")
	writes := &requestCounter{n: map[string]int{}}
	cfg.Wrap(writes.wrap)
	ctrlClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cluster: c, admin: c.Client, ctrlClient: ctrlClient, writes: writes}
}

// requestCounter counts write requests. A patch that changes nothing leaves
// the object's resourceVersion alone, so only counting requests shows that
// the controller did not send one.
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (rc *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			rc.mu.Lock()
			rc.n[req.Method+" "+req.URL.Path]++
			rc.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// count returns how many method requests went to paths containing part.
func (rc *requestCounter) count(method, part string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	total := 0
	for k, n := range rc.n {
		if strings.HasPrefix(k, method+" ") && strings.Contains(k, part) {
			total += n
		}
	}
	return total
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// controllerRun is one running controller.
type controllerRun struct {
	stop func() // cancels Run and waits for it to return
}

// namespace creates a namespace for one scenario.
func (e *env) namespace(t *testing.T) string {
	t.Helper()
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sc-"}}
	ns, err := e.admin.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// start runs a controller over lb (the fake provider, or a wrapper of it) that
// sees Services in namespace ns only (scenarios must not see each other's), and
// all Nodes.
func (e *env) start(t *testing.T, ns string, lb cloudprovider.LoadBalancer, cfg Config) *controllerRun {
	t.Helper()
	factory := informers.NewSharedInformerFactoryWithOptions(e.ctrlClient, 0, informers.WithNamespace(ns))
	ctrl, err := New(lb, e.ctrlClient, factory, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	factory.Start(ctx.Done())
	go func() {
		defer close(done)
		ctrl.Run(ctx, 4)
	}()
	run := &controllerRun{}
	var stopped bool
	run.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30 s of its context ending")
		}
		factory.Shutdown()
	}
	t.Cleanup(run.stop)
	return run
}

// testConfig retries fast enough for tests to watch several retries.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ResyncPeriod = 0
	cfg.NodeSyncDelay = 100 * time.Millisecond
	cfg.MinRetryDelay = 200 * time.Millisecond
	cfg.MaxRetryDelay = time.Second
	return cfg
}

// createNodes registers Node objects (there is no kubelet) and removes them
// when the test ends.
func (e *env) createNodes(t *testing.T, nodes ...*v1.Node) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		created, err := e.admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Status is not taken from a create; set it like a kubelet would.
		created.Status = n.Status
		if _, err := e.admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = e.admin.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{})
		})
	}
}

func (e *env) setNodeReady(t *testing.T, name string, status v1.ConditionStatus) {
	t.Helper()
	ctx := context.Background()
	n, err := e.admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objects.WithCondition(v1.NodeReady, status)(n)
	if _, err := e.admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) create(t *testing.T, svc *v1.Service, opts metav1.CreateOptions) *v1.Service {
	t.Helper()
	svc = svc.DeepCopy()
	svc.UID = ""
	out, err := e.admin.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) get(t *testing.T, ns, name string) (*v1.Service, bool) {
	t.Helper()
	svc, err := e.admin.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return svc, true
}

// update applies change to the Service, retrying on conflicts.
func (e *env) update(t *testing.T, ns, name string, change func(*v1.Service)) {
	t.Helper()
	for range 10 {
		svc, ok := e.get(t, ns, name)
		if !ok {
			t.Fatalf("Service %s/%s is gone", ns, name)
		}
		change(svc)
		_, err := e.admin.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("updating Service %s/%s: too many conflicts", ns, name)
}

// dropFinalizers removes every finalizer of a Service, if it still exists:
// the clean-up of Services that a test leaves to another implementation.
func (e *env) dropFinalizers(t *testing.T, ns, name string) {
	t.Helper()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	_, err := e.admin.CoreV1().Services(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("removing the finalizers of %s/%s: %v", ns, name, err)
	}
}

// waitServed waits until the Service has the cleanup finalizer and an ingress
// IP, and returns it.
func (e *env) waitServed(t *testing.T, ns, name string) *v1.Service {
	t.Helper()
	var svc *v1.Service
	testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
		s, ok := e.get(t, ns, name)
		if !ok {
			return "the Service does not exist"
		}
		if !hasCleanupFinalizer(s) || len(s.Status.LoadBalancer.Ingress) == 0 {
			return fmt.Sprintf("not served yet: finalizers %v, status %+v", s.Finalizers, s.Status.LoadBalancer)
		}
		svc = s
		return ""
	})
	return svc
}

// events returns "Type Reason: message" of the Events about a Service.
func (e *env) events(t *testing.T, svc *v1.Service) []string {
	t.Helper()
	list, err := e.admin.CoreV1().Events(svc.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": svc.Name, "involvedObject.kind": "Service"}.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Source.Component != EventComponent {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message))
	}
	slices.Sort(out)
	return out
}

// waitEvent waits for an Event of our component whose "Type Reason: message"
// starts with prefix.
func (e *env) waitEvent(t *testing.T, svc *v1.Service, prefix string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
		evs := e.events(t, svc)
		if slices.ContainsFunc(evs, func(s string) bool { return strings.HasPrefix(s, prefix) }) {
			return ""
		}
		return fmt.Sprintf("no Event %q among %q", prefix, evs)
	})
}
