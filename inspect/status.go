package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// conditionReady is the Service condition frontdesk-controller keeps (controller/service's
// ConditionLoadBalancerReady, repeated so that the plugin links no controller code).
const conditionReady = "frontdesk.dev/LoadBalancerReady"

// ServiceStatus is one LoadBalancer Service as frontdesk serves it.
type ServiceStatus struct {
	Namespace string                          `json:"namespace"`
	Name      string                          `json:"name"`
	Class     string                          `json:"loadBalancerClass,omitempty"`
	Addresses []AddressStatus                 `json:"addresses"`
	Ready     string                          `json:"ready"` // the condition's status; "" when the controller has set none
	Reason    string                          `json:"reason,omitempty"`
	Message   string                          `json:"message,omitempty"`
	Since     *metav1.Time                    `json:"since,omitempty"` // the condition's last transition
	Policy    v1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`
}

// AddressStatus is one address of a Service: its pool and who announces it, as the speakers
// report in its IPAllocation.
type AddressStatus struct {
	Address    string               `json:"address"`
	Pool       string               `json:"pool,omitempty"`
	Shared     bool                 `json:"shared,omitempty"` // held with other Services (a sharing key)
	Announcers []v1alpha1.Announcer `json:"announcers,omitempty"`
	Announced  *metav1.Condition    `json:"announced,omitempty"` // the IPAllocation's Announced condition
}

// Status lists the LoadBalancer Services of namespace ("" for all) named in names (all when
// none), with their addresses' pools and announcers and their readiness, sorted by namespace and
// name. A name that is no LoadBalancer Service is an error.
func Status(ctx context.Context, kube kubernetes.Interface, api client.Interface, namespace string, names []string) ([]ServiceStatus, error) {
	svcs, err := kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	allocs, err := api.IPAllocations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing IPAllocations: %w", err)
	}
	byAddr := map[string]*v1alpha1.IPAllocation{}
	for i := range allocs.Items {
		byAddr[allocs.Items[i].Spec.Address] = &allocs.Items[i]
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []ServiceStatus
	for _, s := range svcs.Items {
		if s.Spec.Type != v1.ServiceTypeLoadBalancer || (len(want) > 0 && !want[s.Name]) {
			continue
		}
		delete(want, s.Name)
		out = append(out, serviceStatus(&s, byAddr))
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for n := range want {
			missing = append(missing, n)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("no Service of type LoadBalancer named %s in %s", strings.Join(missing, ", "), nsName(namespace))
	}
	slices.SortFunc(out, func(a, b ServiceStatus) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

func nsName(ns string) string {
	if ns == "" {
		return "any namespace"
	}
	return "namespace " + ns
}

func serviceStatus(s *v1.Service, byAddr map[string]*v1alpha1.IPAllocation) ServiceStatus {
	st := ServiceStatus{Namespace: s.Namespace, Name: s.Name, Policy: s.Spec.ExternalTrafficPolicy}
	if s.Spec.LoadBalancerClass != nil {
		st.Class = *s.Spec.LoadBalancerClass
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		a := AddressStatus{Address: in.IP}
		if a.Address == "" {
			a.Address = in.Hostname // a cloud load balancer's name
		}
		if alloc := byAddr[in.IP]; alloc != nil {
			a.Pool, a.Shared = alloc.Spec.Pool, len(alloc.Spec.Services) > 1
			a.Announcers = alloc.Status.Announcers
			a.Announced = meta.FindStatusCondition(alloc.Status.Conditions, v1alpha1.IPAllocationConditionAnnounced)
		}
		st.Addresses = append(st.Addresses, a)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, conditionReady); c != nil {
		st.Ready, st.Reason, st.Message, st.Since = string(c.Status), c.Reason, c.Message, &c.LastTransitionTime
	}
	return st
}

// announcedBy is "node-a (L2)" or "3 nodes (BGP)" for a table cell.
func (a AddressStatus) announcedBy() string {
	var l2 []string
	bgp := 0
	for _, an := range a.Announcers {
		switch an.Mode {
		case v1alpha1.AnnouncementModeL2:
			l2 = append(l2, an.Node)
		case v1alpha1.AnnouncementModeBGP:
			bgp++
		}
	}
	var parts []string
	if len(l2) > 0 {
		parts = append(parts, strings.Join(l2, ",")+" (L2)")
	}
	switch {
	case bgp == 1:
		parts = append(parts, "1 node (BGP)")
	case bgp > 1:
		parts = append(parts, fmt.Sprintf("%d nodes (BGP)", bgp))
	}
	if len(parts) == 0 {
		if a.Announced != nil && a.Announced.Status != metav1.ConditionTrue {
			return "none: " + a.Announced.Reason
		}
		return "none"
	}
	return strings.Join(parts, ", ")
}
