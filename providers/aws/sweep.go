package aws

import (
	"context"
	"fmt"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// Event reasons of the sweep, on the (usually deleted) Service.
const (
	EventSwept     = "SweptAWSResource"
	EventWouldSwep = "WouldSweepAWSResource"
	EventSweepFail = "SweepAWSResourceFailed"
)

// unusedRounds is how many sweeps in a row a target group or security group
// of a live Service must be seen unused before it goes: one reconcile may be
// between creating it and attaching it.
const unusedRounds = 2

// ServiceLookup returns the Service now in the cluster, if any. An error
// means "cannot tell": the resources are kept.
type ServiceLookup func(namespace, name string) (*v1.Service, bool, error)

// Swept is one resource the sweep deleted (or, in dry-run mode, would have).
type Swept struct {
	Kind, Name, ID string
	Owner          model.Owner
	Why            string
}

var sweptTotal = metrics.NewCounterVec(&metrics.CounterOpts{
	Namespace: "frontdesk", Subsystem: "aws", Name: "sweep_resources_total",
	Help:           "Owned AWS resources the sweep found orphaned, by kind and outcome (deleted, dry-run, failed).",
	StabilityLevel: metrics.ALPHA,
}, []string{"kind", "outcome"})

var registerSweepOnce sync.Once

func registerMetrics() {
	registerSweepOnce.Do(func() { legacyregistry.MustRegister(sweptTotal) })
}

// sweeper remembers, between passes, what it saw unused.
type sweeper struct {
	mu     sync.Mutex
	unused map[string]int // resource ID → passes in a row seen unused
}

// Sweep runs one pass: every resource tagged as owned by the cluster whose
// Service is gone (or was re-created with another UID, or no longer is of
// type LoadBalancer) is deleted, as is a load balancer the Service's
// annotations no longer name and a target or security group no load
// balancer has used for unusedRounds passes. With dryRun nothing is deleted.
// Each finding is logged, counted and reported as an Event on the Service.
func (c *Cloud) Sweep(ctx context.Context, lookup ServiceLookup, recorder record.EventRecorder, dryRun bool) ([]Swept, error) {
	cluster := c.clusterName("")
	if cluster == "" {
		return nil, fmt.Errorf("no cluster name yet: set clusterName in the cloud config")
	}
	items, err := c.inventory(ctx, cluster, "")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.sweeper == nil {
		c.sweeper = &sweeper{unused: map[string]int{}}
	}
	sw := c.sweeper
	c.mu.Unlock()
	sw.mu.Lock()
	defer sw.mu.Unlock()

	var found []Swept
	var doomed []owned
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.ID] = true
		why := c.orphaned(cluster, it, lookup, sw)
		if why == "" {
			continue
		}
		found = append(found, Swept{Kind: it.Kind, Name: it.Name, ID: it.ID, Owner: it.Owner, Why: why})
		doomed = append(doomed, it)
	}
	for id := range sw.unused {
		if !seen[id] {
			delete(sw.unused, id)
		}
	}
	logger := klog.FromContext(ctx).WithName("sweep")
	var delErr error
	if !dryRun && len(doomed) > 0 {
		delErr = c.deleteOwned(ctx, doomed)
	}
	for _, s := range found {
		outcome, reason, verb := "deleted", EventSwept, "Deleted"
		if dryRun {
			outcome, reason, verb = "dry-run", EventWouldSwep, "Would delete (dry run)"
		}
		logger.Info(verb+" an orphaned AWS resource", "kind", s.Kind, "name", s.Name, "id", s.ID,
			"service", s.Owner.Namespace+"/"+s.Owner.Name, "uid", s.Owner.UID, "why", s.Why)
		sweptTotal.WithLabelValues(s.Kind, outcome).Inc()
		if recorder != nil {
			ref := &v1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: s.Owner.Namespace, Name: s.Owner.Name, UID: typesUID(s.Owner.UID)}
			// The name, not the ID: an ARN carries the account ID, and
			// the Event is the tenant's to read (the log has the ID).
			recorder.Eventf(ref, v1.EventTypeNormal, reason, "%s %s %s: %s", verb, s.Kind, s.Name, s.Why)
		}
	}
	if delErr != nil {
		sweptTotal.WithLabelValues("any", "failed").Inc()
		logger.Error(delErr, "The sweep could not delete everything; the next pass retries")
	}
	for _, it := range doomed {
		delete(sw.unused, it.ID)
	}
	return found, delErr
}

func statusNames(svc *v1.Service, name string) bool {
	return slices.ContainsFunc(svc.Status.LoadBalancer.Ingress, func(in v1.LoadBalancerIngress) bool {
		ref, ok := refFromHostname(in.Hostname)
		return ok && ref.name == name
	})
}

// orphaned says why it should go, or "" to keep it.
func (c *Cloud) orphaned(cluster string, it owned, lookup ServiceLookup, sw *sweeper) string {
	svc, ok, err := lookup(it.Owner.Namespace, it.Owner.Name)
	switch {
	case err != nil:
		return ""
	case !ok:
		return "its Service no longer exists"
	case string(svc.UID) != it.Owner.UID:
		return "its Service was deleted and re-created"
	case svc.Spec.Type != v1.ServiceTypeLoadBalancer:
		return "its Service is no longer of type LoadBalancer"
	}
	if it.Kind == model.ResourceLoadBalancer {
		spec, err := annotations.Parse(svc.Annotations)
		if err != nil {
			return "" // the Service must be fixed first: keep what serves it
		}
		want := model.LoadBalancerName(cluster, svc, spec)
		if want == it.Name || statusNames(svc, it.Name) {
			// Still the one serving: the reconcile deletes a replaced load
			// balancer itself, once the new one is in the status.
			return ""
		}
		return "the Service's load balancer is now " + want
	}
	if it.InUse {
		delete(sw.unused, it.ID)
		return ""
	}
	sw.unused[it.ID]++
	if sw.unused[it.ID] >= unusedRounds {
		return fmt.Sprintf("no load balancer has used it for %d sweeps", sw.unused[it.ID])
	}
	return ""
}
