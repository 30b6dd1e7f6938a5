package baremetal

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// serviceCIDR is one range the cluster's ClusterIPs are drawn from, and where it was read.
type serviceCIDR struct {
	prefix netip.Prefix
	source string // `ServiceCIDR "kubernetes"`, or the option that gave it
}

// serviceCIDRs are the cluster's Service CIDRs as last seen: read from the networking.k8s.io/v1
// ServiceCIDR objects when the API server serves them (GA since Kubernetes 1.33), else given by
// Options.ServiceCIDRs. A pool overlapping one is refused: its addresses would be ClusterIPs too,
// and the node proxy would answer for both (issue 17, item 4). CEL cannot know the range.
type serviceCIDRs struct {
	// Both are set once, before any reader runs; the store is safe for concurrent use.
	store  cache.Store // nil: the static ranges only
	static []serviceCIDR
}

func (s *serviceCIDRs) list() []serviceCIDR {
	if s == nil {
		return nil
	}
	if s.store == nil {
		return s.static
	}
	var out []serviceCIDR
	for _, o := range s.store.List() {
		sc, ok := o.(*networkingv1.ServiceCIDR)
		if !ok {
			continue
		}
		for _, c := range sc.Spec.CIDRs {
			if p, err := netip.ParsePrefix(c); err == nil {
				out = append(out, serviceCIDR{prefix: p.Masked(), source: fmt.Sprintf("ServiceCIDR %q", sc.Name)})
			}
		}
	}
	slices.SortFunc(out, func(a, b serviceCIDR) int { return strings.Compare(a.prefix.String(), b.prefix.String()) })
	return out
}

// serviceCIDRInformer returns an informer of the ServiceCIDR objects, or nil when the API server
// does not serve them (an older cluster, or the API switched off), so that the static ranges
// apply. Any other error is returned: without the ranges, a pool could hand out ClusterIPs.
func serviceCIDRInformer(ctx context.Context, kube kubernetes.Interface) (cache.SharedIndexInformer, error) {
	_, err := kube.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case apierrors.IsForbidden(err):
		// An upgrade that kept an older controller role: keep serving, but say what is missing.
		klog.FromContext(ctx).Error(err, "Cannot read ServiceCIDRs; IPPools are checked against the configured Service CIDRs only: grant list and watch on servicecidrs.networking.k8s.io")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing ServiceCIDRs (networking.k8s.io/v1; the controller needs list and watch on them): %w", err)
	}
	return plainInformer(&networkingv1.ServiceCIDR{}, nil,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.NetworkingV1().ServiceCIDRs().List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return kube.NetworkingV1().ServiceCIDRs().Watch(ctx, o)
		}), nil
}

// refuseServiceCIDRs marks invalid every valid pool with an entry overlapping a Service CIDR.
// The message names the entry and the range; the reason is ServiceCIDROverlap.
func refuseServiceCIDRs(views []poolView, cidrs []serviceCIDR) []poolView {
	if len(cidrs) == 0 {
		return views
	}
	views = slices.Clone(views)
	for i := range views {
		v := &views[i]
		if v.invalid != "" {
			continue
		}
		if msg := serviceCIDROverlap(v.def, cidrs); msg != "" {
			v.invalid, v.invalidReason = msg, v1alpha1.IPPoolReasonServiceCIDROverlap
		}
	}
	return views
}

func serviceCIDROverlap(d allocator.Pool, cidrs []serviceCIDR) string {
	for _, c := range cidrs {
		for _, p := range d.CIDRs {
			if p.Overlaps(c.prefix) {
				return overlapMsg(p.String(), c)
			}
		}
		sc := v1alpha1.PrefixEntry(c.prefix)
		for _, r := range d.Ranges {
			if sc.Overlaps(v1alpha1.AddressEntry{First: r.First, Last: r.Last}) {
				return overlapMsg(r.String(), c)
			}
		}
	}
	return ""
}

func overlapMsg(entry string, c serviceCIDR) string {
	return fmt.Sprintf("spec.addresses: entry %s overlaps the cluster's Service CIDR %s (%s): ClusterIPs are not LoadBalancer addresses; "+
		"this pool hands out no address until the overlap is removed", entry, c.prefix, c.source)
}
