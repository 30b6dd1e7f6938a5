package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// ConditionLoadBalancerReady is the condition the controller keeps in status.conditions of every
// Service it serves: True once the load balancer serves the address in status.loadBalancer, else
// False with a reason and a message that says what to do. kubectl describe shows it; kubectl wait
// --for=condition=frontdesk.dev/LoadBalancerReady waits for it.
const ConditionLoadBalancerReady = "frontdesk.dev/LoadBalancerReady"

// The reasons the controller decides itself, for a provider that does not implement Readiness.
const (
	// ReasonProvisioned: the provider returned the load balancer's address, nothing more known.
	ReasonProvisioned = "Provisioned"
	// ReasonSyncFailed: the last sync failed; the message holds the error.
	ReasonSyncFailed = "SyncFailed"
)

// The Events that tell a change of the condition's status or reason.
const (
	EventLoadBalancerReady    = "LoadBalancerReady"
	EventLoadBalancerNotReady = "LoadBalancerNotReady"
)

// maxMessage bounds a condition's message (the API server refuses more than 32768 bytes).
const maxMessage = 4096

// Readiness is implemented by a provider's LoadBalancer that knows more than "the address was
// returned": on bare metal, whether a node announces the address and its node proxy forwards it;
// on a cloud, whether the load balancer is active. The controller asks it at every sync of a
// Service it serves, and the provider calls the function SetReadinessChanged hands it when what it
// knows about a Service changes, so that the condition follows without waiting for a resync.
type Readiness interface {
	// LoadBalancerReadiness returns the condition's status, reason and message for svc.
	// ensureErr is the error of the sync that just ran, nil when it succeeded; svc's status names
	// the address the load balancer serves, if it has one.
	LoadBalancerReadiness(svc *v1.Service, ensureErr error) (metav1.ConditionStatus, string, string)
	SetReadinessChanged(changed func(namespace, name string))
}

// readiness is the condition for svc after a sync that returned err.
func (c *Controller) readiness(svc *v1.Service, err error) metav1.Condition {
	cond := metav1.Condition{Type: ConditionLoadBalancerReady, ObservedGeneration: svc.Generation}
	switch r, ok := c.balancer.(Readiness); {
	case ok:
		cond.Status, cond.Reason, cond.Message = r.LoadBalancerReadiness(svc, err)
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonSyncFailed, err.Error()
		if len(svc.Status.LoadBalancer.Ingress) > 0 {
			cond.Status = metav1.ConditionUnknown
			cond.Message = "the last sync failed, and the load balancer may still serve" +
				ingressSummary(&svc.Status.LoadBalancer) + ": " + err.Error()
		}
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonProvisioned, "the provider returned the load balancer"+ingressSummary(&svc.Status.LoadBalancer)
	}
	if len(cond.Message) > maxMessage {
		// Cut on a character boundary: a message cut inside one is not valid UTF-8.
		cond.Message = strings.ToValidUTF8(cond.Message[:maxMessage-3], "") + "..."
	}
	return cond
}

// setCondition writes want into svc's status.conditions through services/status when its status,
// reason or message differ from what svc holds, keeping the transition time when the status stays.
// Only this condition is patched (status.conditions merges by type): other controllers' stay.
func (c *Controller) setCondition(ctx context.Context, svc *v1.Service, want metav1.Condition) error {
	// A copy: FindStatusCondition points into svc's list, which SetStatusCondition below changes
	// in place, and the Event is decided on what was there before.
	var have *metav1.Condition
	if h := meta.FindStatusCondition(svc.Status.Conditions, want.Type); h != nil {
		have = new(*h)
	}
	if have != nil && have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message &&
		have.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	want.LastTransitionTime = metav1.Now()
	if have != nil && have.Status == want.Status {
		want.LastTransitionTime = have.LastTransitionTime
	}
	before := &v1.Service{}
	if have != nil {
		before.Status.Conditions = []metav1.Condition{*have}
	}
	after := &v1.Service{Status: v1.ServiceStatus{Conditions: []metav1.Condition{want}}}
	if err := c.patch(ctx, svc, before, after, "status"); err != nil {
		return fmt.Errorf("setting condition %s: %w", want.Type, err)
	}
	meta.SetStatusCondition(&svc.Status.Conditions, want)
	klog.FromContext(ctx).V(4).Info("Set condition", "type", want.Type, "status", want.Status, "reason", want.Reason)
	// kubectl describe shows a Service's Events, not its conditions: a change of status or
	// reason is told there too, once (a message that changes alone, as announcers come and go,
	// is not). Only False warns: Unknown is a state being found out, as a new Service's is.
	if have == nil || have.Status != want.Status || have.Reason != want.Reason {
		typ, reason := v1.EventTypeNormal, EventLoadBalancerReady
		switch want.Status {
		case metav1.ConditionFalse:
			typ, reason = v1.EventTypeWarning, EventLoadBalancerNotReady
		case metav1.ConditionUnknown:
			reason = EventLoadBalancerNotReady
		}
		c.recorder.Eventf(svc, typ, reason, "%s %s (%s): %s", want.Type, want.Status, want.Reason, want.Message)
	}
	return nil
}

// clearCondition removes the condition from a Service the controller no longer serves.
func (c *Controller) clearCondition(ctx context.Context, svc *v1.Service) error {
	have := meta.FindStatusCondition(svc.Status.Conditions, ConditionLoadBalancerReady)
	if have == nil {
		return nil
	}
	// Written out: a two-way patch from [ours] to [] would set the whole list to null, taking
	// other controllers' conditions with it.
	data, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]string{
		{"$patch": "delete", "type": ConditionLoadBalancerReady}}}})
	if err != nil {
		return err
	}
	if err := c.sendPatch(ctx, svc, data, "status"); err != nil {
		return fmt.Errorf("removing condition %s: %w", ConditionLoadBalancerReady, err)
	}
	meta.RemoveStatusCondition(&svc.Status.Conditions, ConditionLoadBalancerReady)
	return nil
}

// conditionCounts keeps frontdesk_service_controller_load_balancer_conditions: the last condition
// computed for each Service, written or already there (after a restart most are).
type conditionCounts struct {
	mu sync.Mutex
	of map[string][2]string // Service key → status, reason
}

func (c *conditionCounts) set(key string, status metav1.ConditionStatus, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := [2]string{string(status), reason}
	old, ok := c.of[key]
	if ok && old == now {
		return
	}
	if ok {
		loadBalancerConditions.WithLabelValues(old[0], old[1]).Dec()
	}
	if c.of == nil {
		c.of = map[string][2]string{}
	}
	c.of[key] = now
	loadBalancerConditions.WithLabelValues(now[0], now[1]).Inc()
}

func (c *conditionCounts) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.of[key]; ok {
		loadBalancerConditions.WithLabelValues(old[0], old[1]).Dec()
		delete(c.of, key)
	}
}

// readinessChanged queues a Service whose provider says its readiness may have changed.
func (c *Controller) readinessChanged(namespace, name string) {
	c.queue.Add(namespace + "/" + name)
}
