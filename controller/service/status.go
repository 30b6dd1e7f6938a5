package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/klog/v2"
)

// cleanupFinalizer is cloud-provider's finalizer (servicehelper's
// LoadBalancerCleanupFinalizer), kept so that any cloud-provider tooling
// recognises it.
const cleanupFinalizer = "service.kubernetes.io/load-balancer-cleanup"

func hasCleanupFinalizer(svc *v1.Service) bool {
	return slices.Contains(svc.Finalizers, cleanupFinalizer)
}

// finalizerAddedByUs reports whether metadata.managedFields says that
// FieldManager set the cleanup finalizer. The API server keeps that record
// across our restarts, and it survives the type change that wipes
// spec.loadBalancerClass, which is why ownership is read from it.
func finalizerAddedByUs(svc *v1.Service) bool {
	value, err := json.Marshal(cleanupFinalizer)
	if err != nil {
		return false
	}
	want := "v:" + string(value)
	for _, mf := range svc.ManagedFields {
		if mf.Manager != FieldManager || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Finalizers map[string]json.RawMessage `json:"f:finalizers"`
			} `json:"f:metadata"`
		}
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		if _, ok := fields.Metadata.Finalizers[want]; ok {
			return true
		}
	}
	return false
}

// normalizeStatus returns a copy of s with the API server's defaults applied:
// an ingress with an IP and no ipMode gets ipMode VIP. Comparing normalized
// statuses keeps a provider that leaves ipMode unset from causing a status
// patch on every sync.
func normalizeStatus(s *v1.LoadBalancerStatus) *v1.LoadBalancerStatus {
	out := s.DeepCopy()
	for i := range out.Ingress {
		if out.Ingress[i].IP != "" && out.Ingress[i].IPMode == nil {
			vip := v1.LoadBalancerIPModeVIP
			out.Ingress[i].IPMode = &vip
		}
	}
	return out
}

// statusEqual compares two load-balancer statuses as the API server would
// store them: ingress order, IPs, hostnames, ipMode and port statuses count;
// nil and empty lists are the same.
func statusEqual(a, b *v1.LoadBalancerStatus) bool {
	return equality.Semantic.DeepEqual(normalizeStatus(a).Ingress, normalizeStatus(b).Ingress)
}

// patchStatus sets status.loadBalancer through the status subresource if it
// differs from want, and records the result in svc. It reports whether it
// wrote.
//
// With fenced, the patch carries svc's resourceVersion, which makes it a
// precondition: the write fails with a Conflict if the Service changed since
// the version the provider decided on. Two controller replicas acting at once
// (a lease handed over without fencing) cannot then overwrite each other's
// decision with one taken on an older Service; the loser retries on the new
// version. A provider that keeps its own records (bare metal's IPAllocations)
// relies on this: what it returned reaches the status only if nothing changed
// the Service in between. Clearing the status needs no fence.
func (c *Controller) patchStatus(ctx context.Context, svc *v1.Service, want *v1.LoadBalancerStatus, fenced bool) (bool, error) {
	if statusEqual(&svc.Status.LoadBalancer, want) {
		return false, nil
	}
	before := &v1.Service{Status: v1.ServiceStatus{LoadBalancer: svc.Status.LoadBalancer}}
	after := &v1.Service{Status: v1.ServiceStatus{LoadBalancer: *want}}
	if fenced {
		// Absent from before, so the two-way patch carries it.
		after.ResourceVersion = svc.ResourceVersion
	}
	if err := c.patch(ctx, svc, before, after, "status"); err != nil {
		return false, err
	}
	klog.FromContext(ctx).V(4).Info("Patched status", "ingress", want.Ingress)
	svc.Status.LoadBalancer = *want.DeepCopy()
	return true, nil
}

// addFinalizer adds the cleanup finalizer if it is missing, and records it in
// svc.
func (c *Controller) addFinalizer(ctx context.Context, svc *v1.Service) error {
	if hasCleanupFinalizer(svc) {
		return nil
	}
	want := append(slices.Clone(svc.Finalizers), cleanupFinalizer)
	if err := c.patchFinalizers(ctx, svc, want); err != nil {
		return err
	}
	klog.FromContext(ctx).V(4).Info("Added finalizer", "finalizer", cleanupFinalizer)
	return nil
}

// removeFinalizer removes the cleanup finalizer if it is present.
func (c *Controller) removeFinalizer(ctx context.Context, svc *v1.Service) error {
	if !hasCleanupFinalizer(svc) {
		return nil
	}
	want := slices.DeleteFunc(slices.Clone(svc.Finalizers), func(f string) bool { return f == cleanupFinalizer })
	if err := c.patchFinalizers(ctx, svc, want); err != nil {
		return err
	}
	klog.FromContext(ctx).V(4).Info("Removed finalizer", "finalizer", cleanupFinalizer)
	return nil
}

func (c *Controller) patchFinalizers(ctx context.Context, svc *v1.Service, want []string) error {
	before := &v1.Service{ObjectMeta: metav1.ObjectMeta{Finalizers: svc.Finalizers}}
	after := &v1.Service{ObjectMeta: metav1.ObjectMeta{Finalizers: want}}
	// Through services/status, as cloud-provider does: the API server's
	// bootstrap role for the service controller may patch services/status
	// (metadata included) but not services.
	if err := c.patch(ctx, svc, before, after, "status"); err != nil {
		return err
	}
	svc.Finalizers = want
	return nil
}

// patch sends the strategic-merge patch that turns before into after. A
// strategic patch of metadata.finalizers adds or deletes one entry and keeps
// finalizers other controllers add meanwhile; status.loadBalancer.ingress is
// an atomic list, replaced whole. On success svc takes the resourceVersion of
// the written object (see cacheBehind); the rest of svc is left as it was
// ensured, on purpose: the server's copy may hold a newer spec that the
// provider has not seen yet.
func (c *Controller) patch(ctx context.Context, svc, before, after *v1.Service, subresources ...string) error {
	oldJSON, err := json.Marshal(before)
	if err != nil {
		return err
	}
	newJSON, err := json.Marshal(after)
	if err != nil {
		return err
	}
	data, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, v1.Service{})
	if err != nil {
		return fmt.Errorf("computing patch: %w", err)
	}
	return c.sendPatch(ctx, svc, data, subresources...)
}

// sendPatch sends a strategic-merge patch and records the written resourceVersion in svc.
func (c *Controller) sendPatch(ctx context.Context, svc *v1.Service, data []byte, subresources ...string) error {
	out, err := c.client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.StrategicMergePatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager}, subresources...)
	if err != nil {
		return err
	}
	svc.ResourceVersion = out.ResourceVersion
	return nil
}

// cacheBehind reports whether the informer's copy of a Service is older than
// the object our own last write returned. Acting on it would take our own
// finalizer or status, not yet seen, for someone else's change; the watch
// event of our write re-queues the Service anyway. Resource versions are
// compared with apimachinery's resourceversion package, which defines their
// order; a version that is not a plain number (client-go's fake) compares as
// not behind.
func cacheBehind(cached, written *v1.Service) bool {
	order, err := resourceversion.CompareResourceVersion(cached.ResourceVersion, written.ResourceVersion)
	return err == nil && order < 0
}
