package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// otherCondition is another controller's condition on the same Service: never touched.
var otherCondition = metav1.Condition{Type: "example.com/Other", Status: metav1.ConditionTrue, Reason: "Fine",
	Message: "not ours", LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}

// waitCondition waits until the Service's condition is want (status, reason, a message part), or
// absent when want is nil, with otherCondition untouched throughout, and returns it.
func waitCondition(t *testing.T, h *unitHarness, name string, want *metav1.Condition) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		svc, err := h.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if o := meta.FindStatusCondition(svc.Status.Conditions, otherCondition.Type); o == nil || *o != otherCondition {
			t.Fatalf("another controller's condition was changed: %+v", svc.Status.Conditions)
		}
		got = meta.FindStatusCondition(svc.Status.Conditions, ConditionLoadBalancerReady)
		switch {
		case want == nil && got == nil:
			return ""
		case want == nil:
			return fmt.Sprintf("condition still there: %+v", *got)
		case got == nil:
			return "no condition yet"
		case got.Status != want.Status || got.Reason != want.Reason || !strings.Contains(got.Message, want.Message):
			return fmt.Sprintf("condition %s/%s %q, want %s/%s with %q", got.Status, got.Reason, got.Message, want.Status, want.Reason, want.Message)
		case got.ObservedGeneration != svc.Generation:
			return fmt.Sprintf("observedGeneration %d, want %d", got.ObservedGeneration, svc.Generation)
		}
		// The controller's cache holds it too: the fake's objects have no resourceVersion, so
		// the controller cannot tell a copy older than its own write (cacheBehind), and a test's
		// next change must not come before the cache caught up.
		if cached, err := h.services.Services("default").Get(name); err != nil ||
			!equality.Semantic.DeepEqual(meta.FindStatusCondition(cached.Status.Conditions, ConditionLoadBalancerReady), got) {
			return "the controller's cache is behind"
		}
		return ""
	})
	return got
}

func withOtherCondition(s *v1.Service) { s.Status.Conditions = []metav1.Condition{otherCondition} }

// Without Readiness from the provider, the condition says whether the last sync worked: False
// with the provider's error while it fails, True once the provider returns the address, gone
// once the Service stops asking for a load balancer. Another controller's condition stays.
func TestConditionFollowsTheSync(t *testing.T) {
	svc := newService("web", withOtherCondition)
	lb := fakelb.New()
	lb.FailFor(nn(svc), errors.New("no capacity left in the zone"))
	// The metric's registry is the process's: other tests' Services may be counted, so the
	// counts are checked as differences from here.
	gauge := func(status, reason string) float64 {
		t.Helper()
		v, err := testutil.GetGaugeMetricValue(loadBalancerConditions.WithLabelValues(status, reason))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	registerMetrics()
	failing0, ready0 := gauge("False", ReasonSyncFailed), gauge("True", ReasonProvisioned)
	counted := func(failing, ready float64) {
		t.Helper()
		testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
			if f, r := gauge("False", ReasonSyncFailed)-failing0, gauge("True", ReasonProvisioned)-ready0; f != failing || r != ready {
				return fmt.Sprintf("counted %v failing and %v ready, want %v and %v", f, r, failing, ready)
			}
			return ""
		})
	}
	h := startUnitWith(t, lb, lb, fastConfig(), 1, newNode("a"), svc)

	failed := waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonSyncFailed, Message: "no capacity left in the zone"})
	counted(1, 0)
	lb.ClearFailures()
	ready := waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionTrue, Reason: ReasonProvisioned, Message: "the provider returned the load balancer: "})
	counted(0, 1)
	if !ready.LastTransitionTime.After(failed.LastTransitionTime.Time) && !ready.LastTransitionTime.Equal(&failed.LastTransitionTime) {
		t.Errorf("lastTransitionTime went back: %v after %v", ready.LastTransitionTime, failed.LastTransitionTime)
	}

	if _, err := h.client.CoreV1().Services("default").Update(context.Background(), withClusterIP(t, h, "web"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, h, "web", nil)
	counted(0, 0)
}

func withClusterIP(t *testing.T, h *unitHarness, name string) *v1.Service {
	t.Helper()
	svc, err := h.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withType(v1.ServiceTypeClusterIP)(svc)
	return svc
}

// readyLB is a provider that implements Readiness with a verdict the test sets.
type readyLB struct {
	*fakelb.Fake
	mu      sync.Mutex
	verdict [3]string // status, reason, message
	changed func(namespace, name string)
}

func (r *readyLB) LoadBalancerReadiness(_ *v1.Service, err error) (metav1.ConditionStatus, string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		return metav1.ConditionFalse, "Refused", err.Error()
	}
	return metav1.ConditionStatus(r.verdict[0]), r.verdict[1], r.verdict[2]
}

func (r *readyLB) SetReadinessChanged(f func(namespace, name string)) { r.changed = f }

func (r *readyLB) set(status, reason, msg string) {
	r.mu.Lock()
	r.verdict = [3]string{status, reason, msg}
	r.mu.Unlock()
}

// A provider with Readiness decides the condition, and its call to the function it was handed
// brings the condition up to date at once: there is no resync in fastConfig.
func TestReadinessProviderDecides(t *testing.T) {
	lb := &readyLB{Fake: fakelb.New()}
	lb.set("False", "NotAnnounced", "no node announces 192.0.2.1 yet")
	svc := newService("web", withOtherCondition)
	h := startUnitWith(t, lb.Fake, lb, fastConfig(), 1, newNode("a"), svc)
	if lb.changed == nil {
		t.Fatal("New did not hand the provider its readiness function")
	}
	waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionFalse, Reason: "NotAnnounced", Message: "no node announces"})
	waitConditionEvents(t, h, "web", "Warning LoadBalancerNotReady: "+ConditionLoadBalancerReady+" False (NotAnnounced)")
	lb.set("True", "Announced", "announced by node-a over L2")
	lb.changed("default", "web")
	waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionTrue, Reason: "Announced", Message: "node-a"})
	// Each change of status or reason is told once, in order; a message that changes alone is not.
	lb.set("True", "Announced", "announced by node-b over L2")
	lb.changed("default", "web")
	waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionTrue, Reason: "Announced", Message: "node-b"})
	lb.set("False", "NotAnnounced", "no node announces 192.0.2.1")
	lb.changed("default", "web")
	waitCondition(t, h, "web", &metav1.Condition{Status: metav1.ConditionFalse, Reason: "NotAnnounced", Message: "192.0.2.1"})
	waitConditionEvents(t, h, "web",
		"Warning LoadBalancerNotReady: "+ConditionLoadBalancerReady+" False (NotAnnounced)",
		"Normal LoadBalancerReady: "+ConditionLoadBalancerReady+" True (Announced): announced by node-a",
		"Warning LoadBalancerNotReady: "+ConditionLoadBalancerReady+" False (NotAnnounced)")
	if calls := lb.Calls(fakelb.OpEnsure); calls != 1 {
		t.Errorf("%d EnsureLoadBalancer calls, want 1: a readiness change alone calls no provider method", calls)
	}
}

// waitConditionEvents waits until the condition's Events about Service name, oldest first, are
// exactly want (each a prefix of "Type Reason: message"), and fails on any more. The fake lists
// by name, which the recorder makes of the object's name and the Event's time in nanoseconds:
// oldest first.
func waitConditionEvents(t *testing.T, h *unitHarness, name string, want ...string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		list, err := h.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name == name && (ev.Reason == EventLoadBalancerReady || ev.Reason == EventLoadBalancerNotReady) {
				for range max(ev.Count, 1) {
					got = append(got, fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message))
				}
			}
		}
		if len(got) != len(want) {
			return fmt.Sprintf("Events %q, want %d: %q", got, len(want), want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				return fmt.Sprintf("Event %d is %q, want %q", i, got[i], want[i])
			}
		}
		return ""
	})
}

func TestOnlyConditionsChanged(t *testing.T) {
	base := newService("web", withOtherCondition)
	base.ResourceVersion = "1"
	cond := base.DeepCopy()
	cond.ResourceVersion = "2"
	cond.Status.Conditions = append(cond.Status.Conditions, metav1.Condition{Type: ConditionLoadBalancerReady, Status: metav1.ConditionTrue})
	both := cond.DeepCopy()
	both.Annotations = map[string]string{"a": "b"}
	lb := cond.DeepCopy()
	withIngressIP("192.0.2.1", nil)(lb)
	for _, tc := range []struct {
		name string
		b    *v1.Service
		want bool
	}{
		{"a condition only", cond, true},
		{"a condition and an annotation", both, false},
		{"a condition and status.loadBalancer", lb, false},
		{"nothing but the resourceVersion", func() *v1.Service { s := base.DeepCopy(); s.ResourceVersion = "3"; return s }(), false},
	} {
		if got := onlyConditionsChanged(base, tc.b); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A provider error longer than a condition holds is cut, on a character boundary.
func TestConditionMessageBounded(t *testing.T) {
	c := &Controller{balancer: fakelb.New()}
	cond := c.readiness(newService("web"), errors.New(strings.Repeat("é", maxMessage)))
	if len(cond.Message) > maxMessage || !utf8.ValidString(cond.Message) || !strings.HasSuffix(cond.Message, "...") {
		t.Errorf("message of %d bytes, valid UTF-8 %v, ends %q", len(cond.Message), utf8.ValidString(cond.Message), cond.Message[len(cond.Message)-5:])
	}
}
