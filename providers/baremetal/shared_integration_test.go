//go:build integration

package baremetal_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Wired as the cloud-controller-manager wires it (SetInformers, then the service controller on
// the same factory), the provider keeps no Service cache of its own: the process watches
// Services once, and a Service is still served.
func TestProviderSharesTheControllerManagersServiceCache(t *testing.T) {
	e := newEnv(t)
	var watches atomic.Int32
	cfg := rest.CopyConfig(e.cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && r.URL.Path == "/api/v1/services" && r.URL.Query().Get("watch") == "true" {
				watches.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	factory := informers.NewSharedInformerFactory(kube, 0)
	cloud := baremetal.New(baremetal.Options{StatusInterval: 200 * time.Millisecond})
	cloud.SetInformers(factory)
	lb, _ := cloud.LoadBalancer()
	scCfg := service.DefaultConfig()
	scCfg.MinRetryDelay, scCfg.MaxRetryDelay = 50*time.Millisecond, 2*time.Second
	sc, err := service.New(lb, kube, factory, scCfg)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	if err := cloud.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); sc.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })

	e.createPool(t, "blue", "198.51.100.20/31")
	e.create(t, lbService("shared"))
	e.waitIngress(t, "shared", 1, 20*time.Second)
	if n := watches.Load(); n != 1 {
		t.Errorf("the process opened %d watches of Services, want 1: the provider and the service controller share one cache", n)
	}
}
