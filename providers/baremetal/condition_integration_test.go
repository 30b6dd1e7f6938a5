//go:build integration

package baremetal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// The Service's LoadBalancerReady condition follows what the speakers report on its address in
// the IPAllocation's status (written here as a speaker writes it), through the real API server's
// merge of status.conditions: another controller's condition on the Service is kept throughout,
// also when the Service stops being a LoadBalancer and frontdesk's condition goes.
func TestServiceConditionFollowsTheSpeakers(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "pool", "198.51.100.0/28")
	e.startController(t)
	ctx := t.Context()

	e.create(t, lbService("web"))
	addr := e.waitIngress(t, "web", 1, 20*time.Second)[0]
	other := metav1.Condition{Type: "example.com/Other", Status: metav1.ConditionTrue, Reason: "Fine", Message: "not frontdesk's",
		LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}
	svc, err := e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.Conditions = append(svc.Status.Conditions, other)
	if _, err := e.kube.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	wait := func(status metav1.ConditionStatus, reason, msg string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, 50*time.Millisecond, func() string {
			s, err := e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if o := meta.FindStatusCondition(s.Status.Conditions, other.Type); o == nil || !o.LastTransitionTime.Equal(&other.LastTransitionTime) || o.Message != other.Message {
				t.Fatalf("another controller's condition changed: %+v", s.Status.Conditions)
			}
			c := meta.FindStatusCondition(s.Status.Conditions, service.ConditionLoadBalancerReady)
			switch {
			case c == nil && status == "":
				return ""
			case c == nil:
				return "no condition"
			case c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg):
				return fmt.Sprintf("condition %s/%s %q, want %s/%s with %q", c.Status, c.Reason, c.Message, status, reason, msg)
			}
			return ""
		})
	}
	wait(metav1.ConditionUnknown, "AwaitingSpeakers", addr.String()+": no speaker has reported on it yet")

	report := func(cond metav1.Condition, announcers ...v1alpha1.Announcer) {
		t.Helper()
		a, err := e.api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(addr), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cond.Type, cond.ObservedGeneration = v1alpha1.IPAllocationConditionAnnounced, a.Generation
		a.Status.Announcers = announcers
		meta.SetStatusCondition(&a.Status.Conditions, cond)
		if _, err := e.api.IPAllocations().UpdateStatus(ctx, a, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	report(metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.IPAllocationReasonNotAdvertised,
		Message: "no L2Advertisement or BGPAdvertisement selects pool pool"})
	wait(metav1.ConditionFalse, v1alpha1.IPAllocationReasonNotAdvertised, "no L2Advertisement or BGPAdvertisement selects pool pool")

	report(metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.IPAllocationReasonAnnouncing, Message: "node-a"},
		v1alpha1.Announcer{Node: "node-a", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: metav1.Now()})
	wait(metav1.ConditionTrue, "Announced", addr.String()+": announced by node-a (eth0) over L2")

	svc, err = e.kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = v1.ServiceTypeClusterIP
	svc.Spec.LoadBalancerClass, svc.Spec.AllocateLoadBalancerNodePorts = nil, nil
	svc.Spec.ExternalTrafficPolicy = ""
	for i := range svc.Spec.Ports {
		svc.Spec.Ports[i].NodePort = 0
	}
	if _, err := e.kube.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("", "", "")
}
