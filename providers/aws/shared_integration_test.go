//go:build integration

package aws_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	frontdeskaws "github.com/frontdesk-lb/frontdesk/providers/aws"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Wired as the cloud-controller-manager wires it (SetInformers, then the
// service controller on the same factory), the provider keeps no cache of its
// own: the process watches Services and EndpointSlices once each, and ip
// targets follow an EndpointSlice change through the service controller's
// queue.
func TestProviderSharesTheControllerManagersCache(t *testing.T) {
	c := controlplane.Start(t)
	e := newEnv(t, envOption{})
	var mu sync.Mutex
	watches := map[string]int{} // path → watch requests
	cfg := rest.CopyConfig(c.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" {
				mu.Lock()
				watches[r.URL.Path]++
				mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	kube := kubernetes.NewForConfigOrDie(cfg)
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)

	factory := informers.NewSharedInformerFactory(kube, 0)
	cloud := frontdeskaws.New(e.cfg, e.clients, frontdeskaws.Options{})
	cloud.SetInformers(factory)
	lb, _ := cloud.LoadBalancer()
	scCfg := service.DefaultConfig()
	scCfg.ClusterName = cluster
	sc, err := service.New(lb, kube, factory, scCfg)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	done := make(chan struct{})
	go func() { defer close(done); sc.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })

	slice := createIPTargetService(ctx, t, c.Client, "10.0.11.50")
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		if got := registeredIPTargets(ctx, e.clients); got != "10.0.11.50" {
			return "ip targets " + got
		}
		return ""
	})
	addEndpoint(ctx, t, c.Client, slice, "10.0.12.60")
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		if got := registeredIPTargets(ctx, e.clients); got != "10.0.11.50,10.0.12.60" {
			return "after the slice changed, ip targets " + got
		}
		return ""
	})

	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"} {
		if n := watches[path]; n != 1 {
			t.Errorf("the process opened %d watches of %s, want 1: the provider and the service controller share one cache", n, path)
		}
	}
}

// createIPTargetService creates the Service "pods" (an NLB with ip targets) and its
// EndpointSlice, with one ready endpoint at addr.
func createIPTargetService(ctx context.Context, t *testing.T, kube kubernetes.Interface, addr string) *discoveryv1.EndpointSlice {
	t.Helper()
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "default",
		Annotations: map[string]string{annotations.NLBTargetType: "ip"}},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Ports: []v1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "pods-1", Namespace: "default",
		Labels: map[string]string{discoveryv1.LabelServiceName: "pods"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: ptr(int32(8080))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}}}
	slice, err := kube.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return slice
}

// addEndpoint adds a ready endpoint at addr to slice.
func addEndpoint(ctx context.Context, t *testing.T, kube kubernetes.Interface, slice *discoveryv1.EndpointSlice, addr string) {
	t.Helper()
	slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// registeredIPTargets lists the targets of every ip target group, sorted.
func registeredIPTargets(ctx context.Context, clients *awsapi.Clients) string {
	tgs, err := clients.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, tg := range tgs.TargetGroups {
		if tg.TargetType != "ip" {
			continue
		}
		th, err := clients.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return err.Error()
		}
		for _, d := range th.TargetHealthDescriptions {
			out = append(out, *d.Target.Id)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
