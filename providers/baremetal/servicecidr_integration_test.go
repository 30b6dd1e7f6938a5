//go:build integration

package baremetal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

// Issue 17, item 4: the API server's own ServiceCIDR (10.96.0.0/16 here, lab/controlplane) is no
// pool's: an IPPool overlapping it is Valid=False (ServiceCIDROverlap) and hands out nothing,
// while a pool beside it serves.
func TestPoolOverlappingTheServiceCIDRIsRefused(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "clusterips", "10.96.128.0/24")
	e.createPool(t, "lan", "198.51.100.60/31")
	e.startController(t)

	testkit.Eventually(t, 20*time.Second, 50*time.Millisecond, func() string {
		p, err := e.api.IPPools().Get(context.Background(), "clusterips", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1alpha1.IPPoolConditionValid && c.Status == metav1.ConditionFalse &&
				c.Reason == v1alpha1.IPPoolReasonServiceCIDROverlap && strings.Contains(c.Message, "10.96.0.0/16") {
				return ""
			}
		}
		return fmt.Sprintf("pool clusterips: conditions %+v, want Valid=False, ServiceCIDROverlap naming 10.96.0.0/16", p.Status.Conditions)
	})
	e.create(t, lbService("wants-clusterip", objects.WithAnnotations(baremetal.AnnotationIPPool, "clusterips")))
	e.waitEvent(t, "wants-clusterip", service.EventSyncLoadBalancerFailed, "is not in force")
	e.create(t, lbService("ordinary"))
	if got := e.waitIngress(t, "ordinary", 1, 20*time.Second); !strings.HasPrefix(got[0].String(), "198.51.100.6") {
		t.Errorf("ordinary got %v, want an address of pool lan", got)
	}
	if l, err := e.api.IPAllocations().List(context.Background(), metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("IPAllocations: %v (err %v), want one, of pool lan", l, err)
	}
}
