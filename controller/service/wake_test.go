package service

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// wakingLB is a provider that can wake the controller, as the bare-metal one does when a pool is
// added.
type wakingLB struct {
	*fakelb.Fake
	wake func()
}

func (w *wakingLB) SetWake(wake func()) { w.wake = wake }

// A Service whose sync failed waits for its backoff, unless the provider wakes the controller:
// then it is synced at once, and Services already served are left alone.
func TestWakeSyncsWaitingServicesAtOnce(t *testing.T) {
	cfg := fastConfig()
	cfg.MinRetryDelay, cfg.MaxRetryDelay = time.Hour, time.Hour // only a wake can retry in time
	lb := fakelb.New()
	w := &wakingLB{Fake: lb}
	// The waiting Service already carries the cleanup finalizer, as after an earlier run: its
	// failed sync then writes nothing, so no watch event of its own can retry it, only the wake.
	waiting, served := newService("waiting", withFinalizer(cleanupFinalizer)), newService("served")
	lb.FailFor(nn(waiting), errors.New("no address left in any pool"))
	h := startUnitWith(t, lb, w, cfg, 2, newNode("a"), waiting, served)
	if w.wake == nil {
		t.Fatal("New did not hand the provider its wake function")
	}
	ingress := func(name string) int {
		svc, err := h.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return -1
		}
		return len(svc.Status.LoadBalancer.Ingress)
	}
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		if ingress("served") != 1 || lb.Calls(fakelb.OpEnsure) < 2 {
			return fmt.Sprintf("served has %d addresses, %d Ensure calls", ingress("served"), lb.Calls(fakelb.OpEnsure))
		}
		return ""
	})
	before := lb.Calls(fakelb.OpEnsure)

	lb.ClearFailures() // the pool is there now
	w.wake()
	testkit.Eventually(t, 2*time.Second, waitEvery, func() string {
		if n := ingress("waiting"); n != 1 {
			return fmt.Sprintf("the waiting Service has %d addresses after the wake", n)
		}
		return ""
	})
	if got := lb.Calls(fakelb.OpEnsure) - before; got != 1 {
		t.Errorf("the wake made %d Ensure calls, want 1: only the Service without an address", got)
	}
}
