package inspect

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// Finding is the answer of Why: the first check that fails, with what to do, or none.
type Finding struct {
	Step   string `json:"step"`             // type, selector, endpoints, class, controller, pool, advertisement, eligibility, announcement, node-proxy; "" when all pass
	Reason string `json:"reason,omitempty"` // the condition's reason, when the controller gave one
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	Path   string `json:"path,omitempty"` // when all pass: the way a packet goes
}

// steps maps the condition's reasons to the troubleshooting step they fail, in the README's order,
// with what to do.
var steps = map[string][2]string{
	"NoPool":                  {"pool", "create an IPPool that serves the Service (its name in frontdesk.dev/ip-pool, or a pool open to the namespace); kubectl frontdesk pools"},
	"PoolExhausted":           {"pool", "add addresses to the pool's spec.addresses, or free some; kubectl frontdesk pools"},
	"InvalidRequest":          {"pool", "fix the Service's requested address or annotation: the message says which"},
	"AddressInUse":            {"pool", "the requested address is another Service's: request another one, or share it with a sharing key"},
	"AddressClaimedElsewhere": {"pool", "another cluster or controller claims the address: request another one"},
	"SyncFailed":              {"controller", "read frontdesk-controller's log and the Service's Events (kubectl describe svc)"},
	"NotAdvertised":           {"advertisement", "create an L2Advertisement or BGPAdvertisement whose ipPools names the address's pool"},
	"NoEligibleNode":          {"eligibility", "no node may announce: check the advertisement's nodeSelectors, that nodes are Ready and run a speaker, and with externalTrafficPolicy Local that a node holds a ready endpoint"},
	"NoSubnet":                {"announcement", "no node interface holds the address's subnet: name the interfaces in the L2Advertisement's spec.interfaces, or use an address on the nodes' subnet"},
	"InterfaceUnavailable":    {"announcement", "the elected node's interface is missing or down: kubectl get ipallocation shows which; the speaker retries"},
	"AwaitingSpeakers":        {"announcement", "no speaker has reported on the address: check that the speaker DaemonSet runs (kubectl get pods -A -l app.kubernetes.io/component=speaker)"},
	"NotForwarded":            {"node-proxy", "the elected node's node proxy has no rules for the address yet: check the speaker's log on that node (nft errors) and its proxy metrics"},
}

// Why walks the README's troubleshooting steps for one Service, in order (selector, endpoints,
// class, controller, then the condition's step: pool, advertisement, eligibility, announcement,
// node proxy), and returns the first that fails, or the path a packet takes when none does.
func Why(ctx context.Context, kube kubernetes.Interface, api client.Interface, namespace, name string) (Finding, error) {
	svc, err := kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Finding{}, fmt.Errorf("no Service %s in namespace %s", name, namespace)
	}
	if err != nil {
		return Finding{}, err
	}
	if svc.Spec.Type != v1.ServiceTypeLoadBalancer {
		typ := svc.Spec.Type
		if typ == "" {
			typ = v1.ServiceTypeClusterIP // the API server's default
		}
		return Finding{Step: "type", Detail: fmt.Sprintf("the Service is of type %s", typ),
			Fix: "set spec.type: LoadBalancer for an external address"}, nil
	}
	if len(svc.Spec.Selector) == 0 {
		return Finding{Step: "selector", Detail: "the Service has no selector: its endpoints are whatever EndpointSlices someone writes",
			Fix: "add a selector matching your Pods' labels, or write its EndpointSlices"}, nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return Finding{}, err
	}
	if len(pods.Items) == 0 {
		return Finding{Step: "selector", Detail: fmt.Sprintf("no Pod in %s matches the selector %s", namespace, sel),
			Fix: "compare with kubectl get pods --show-labels"}, nil
	}
	ready, err := readyEndpoints(ctx, kube, namespace, name)
	if err != nil {
		return Finding{}, err
	}
	if ready == 0 {
		return Finding{Step: "endpoints", Detail: fmt.Sprintf("%d Pod(s) match the selector, none is a ready endpoint", len(pods.Items)),
			Fix: "kubectl describe pods: readiness probes, crash loops, or a targetPort the Pods do not listen on"}, nil
	}
	if c := svc.Spec.LoadBalancerClass; c != nil && !strings.HasPrefix(*c, "frontdesk.dev/") {
		return Finding{Step: "class", Detail: fmt.Sprintf("spec.loadBalancerClass is %s, not frontdesk's", *c),
			Fix: "another implementation serves this class; for frontdesk leave it unset or use frontdesk's class"}, nil
	}
	cond := meta.FindStatusCondition(svc.Status.Conditions, conditionReady)
	if cond == nil {
		return Finding{Step: "controller", Detail: "frontdesk-controller has not reported on the Service (no " + conditionReady + " condition)",
			Fix: "check that frontdesk-controller runs (its leader's log) and serves this Service's class"}, nil
	}
	if cond.Status != metav1.ConditionTrue {
		s, ok := steps[cond.Reason]
		if !ok {
			s = [2]string{"controller", "read the Service's Events (kubectl describe svc)"}
		}
		return Finding{Step: s[0], Reason: cond.Reason, Detail: cond.Message, Fix: s[1]}, nil
	}
	return Finding{Detail: "all checks pass", Path: path(ctx, api, svc, ready)}, nil
}

// readyEndpoints counts the ready endpoints of the Service's EndpointSlices.
func readyEndpoints(ctx context.Context, kube kubernetes.Interface, namespace, name string) (int, error) {
	slices, err := kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

// path says how a client's packet reaches a Pod: the address, who announces it, the node proxy.
func path(ctx context.Context, api client.Interface, svc *v1.Service, ready int) string {
	var hops []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		by := "its announcer"
		if addr, err := netip.ParseAddr(in.IP); err == nil {
			if a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(addr), metav1.GetOptions{}); err == nil {
				by = AddressStatus{Announcers: a.Status.Announcers}.announcedBy()
			}
		}
		hops = append(hops, fmt.Sprintf("%s → %s", in.IP, by))
	}
	local := ""
	if svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal {
		local = " on that node (externalTrafficPolicy Local)"
	}
	return fmt.Sprintf("client → %s → the node proxy → one of %d ready endpoint(s)%s", strings.Join(hops, " | "), ready, local)
}
