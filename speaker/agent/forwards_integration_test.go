//go:build integration

package agent

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
)

// TestAgentWaitsForTheNodeProxy: with the node proxy in the speaker, an address this node won is
// announced only once the proxy forwards it; meanwhile the status says why. The agent learns it
// by polling Forwards, or, given ForwardsChanged (as Main gives the embedded proxy's), when told:
// then it does not poll, so an agent deaf to the notification would not announce before the
// informers' resync, a minute away.
func TestAgentWaitsForTheNodeProxy(t *testing.T) {
	t.Run("polling", func(t *testing.T) { testAgentWaitsForTheNodeProxy(t, false) })
	t.Run("notified", func(t *testing.T) { testAgentWaitsForTheNodeProxy(t, true) })
}

func testAgentWaitsForTheNodeProxy(t *testing.T, notified bool) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("198.51.100.9")
	seedL2(ctx, t, c, api, vip, "node-1")

	var forwards atomic.Bool
	var changed chan struct{}
	if notified {
		changed = make(chan struct{}, 1)
	}
	w := &world{alive: map[string]bool{"node-1": true}}
	ann := &fakeAnnouncer{}
	_, tctx := ktesting.NewTestContext(t)
	actx, stop := context.WithCancel(tctx)
	done := make(chan error, 1)
	go func() {
		done <- runLoop(actx, c.Client, LoopConfig{
			Config: loop.Config{NodeName: "node-1", API: api, Membership: w.member(),
				Informers: loop.NewInformers(c.Client, api, time.Minute), Logger: klog.FromContext(actx)},
			L2: &l2mode.Config{NodeName: "node-1", Announcer: ann, Logger: klog.FromContext(actx),
				Forwards: func(a netip.Addr) bool { return a == vip && forwards.Load() }, ForwardsChanged: changed},
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	condition := func() *metav1.Condition {
		a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return meta.FindStatusCondition(a.Status.Conditions, v1alpha1.IPAllocationConditionAnnounced)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true,
			func(context.Context) (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("%s: %v (condition %+v, announcing %v)", what, err, condition(), ann.has(vip))
		}
	}
	waitFor("the status to say the proxy does not forward the address", func() bool {
		c := condition()
		return c != nil && c.Reason == v1alpha1.IPAllocationReasonNotForwarded && c.Status == metav1.ConditionFalse
	})
	if ann.has(vip) {
		t.Fatalf("%v is announced although the node proxy does not forward it", vip)
	}
	if notified {
		// Let the runs that the status write itself sets off pass (no poll while notified), so
		// that only the notification can start the next one.
		quietFor(t, 300*time.Millisecond)
	}
	start := time.Now()
	forwards.Store(true)
	if notified {
		changed <- struct{}{}
	}
	waitFor("the address to be announced once forwarded", func() bool { return ann.has(vip) })
	t.Logf("announced %v after the proxy forwarded it", time.Since(start).Round(time.Millisecond))
	waitFor("the status to say Announcing", func() bool {
		c := condition()
		return c != nil && c.Reason == v1alpha1.IPAllocationReasonAnnouncing
	})
}

// quietFor waits until the agent has not run for d (its sync counter still), or fails after 10 s.
func quietFor(t *testing.T, d time.Duration) {
	t.Helper()
	runs := func() float64 {
		mfs, err := legacyregistry.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "frontdesk_speaker_syncs_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "ok" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		t.Fatal("no frontdesk_speaker_syncs_total{result=ok} in the legacy registry")
		return 0
	}
	last, since, deadline := runs(), time.Now(), time.Now().Add(10*time.Second)
	for time.Since(since) < d {
		if time.Now().After(deadline) {
			t.Fatalf("the agent kept running for 10 s with nothing changing")
		}
		time.Sleep(20 * time.Millisecond)
		if n := runs(); n != last {
			last, since = n, time.Now()
		}
	}
}
