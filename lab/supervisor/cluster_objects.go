package supervisor

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// podCIDRInterval is how often the supervisor checks that every Node carries its Pod range.
const podCIDRInterval = 5 * time.Second

// setPodCIDR gives Node n its fixed Pod range (the one its CNI bridge serves and the other LAN
// members route to it), as kube-controller-manager's node IPAM would give it a range: the node
// proxies read it. A kubelet registers the Node without one.
func (s *supervisor) setPodCIDR(ctx context.Context, kube kubernetes.Interface, n topology.Node) error {
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, n.PodCIDR, n.PodCIDR)
	_, err := kube.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// keepPodCIDRs sets the Pod range of a Node registered again (deleted, then its kubelet
// restarted) until ctx ends.
func (s *supervisor) keepPodCIDRs(ctx context.Context, kube kubernetes.Interface) {
	t := time.NewTicker(podCIDRInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range s.plan.Nodes {
			node, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && node.Spec.PodCIDR == "" {
				if err := s.setPodCIDR(ctx, kube, n); err != nil {
					klog.Background().Error(err, "setting the Pod range", "node", n.Name)
				}
			}
		}
	}
}

// DNSService is the kube-dns Service the kubelets' clusterDNS address belongs to.
const DNSService = "kube-dns"

// pointDNS makes the kubelets' clusterDNS (Plan.ClusterDNS, in every Pod's resolv.conf) reach the
// lab DNS: the kube-dns Service in kube-system with that ClusterIP, no selector, and an
// EndpointSlice of the lab's holding the control plane's address, which the node proxies
// translate to like any Service's endpoint. CoreDNS in a Pod takes the Service over later.
func (s *supervisor) pointDNS(ctx context.Context, kube kubernetes.Interface) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: DNSService, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: s.plan.ClusterDNS.String(),
			Ports:     []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}},
		},
	}
	if _, err := kube.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the kube-dns Service (%s): %w", s.plan.ClusterDNS, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: DNSService + "-lab", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: DNSService, discoveryv1.LabelManagedBy: "frontdesk-lab"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{s.plan.ControlPlane.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)}},
	}
	if _, err := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the kube-dns EndpointSlice: %w", err)
	}
	return nil
}

// startRouteKeeper keeps the lab's routes in every namespace (topology.KeepRoutes).
func (s *supervisor) startRouteKeeper(ctx context.Context) {
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		topology.KeepRoutes(kctx, s.plan, klog.Background().WithName("routes"))
	})
	s.procs.add(func() { cancel(); <-done })
}

// PullPolicyName names the lab's MutatingAdmissionPolicy and its binding.
const PullPolicyName = "frontdesk-lab-images-if-not-present"

// pullPolicyExpression turns every container's imagePullPolicy into IfNotPresent (a CEL apply
// configuration, merged by container name).
const pullPolicyExpression = `Object{
  spec: Object.spec{
    containers: object.spec.containers.map(c, Object.spec.containers{name: c.name, imagePullPolicy: "IfNotPresent"}),
    initContainers: (has(object.spec.initContainers) ? object.spec.initContainers : []).map(c,
      Object.spec.initContainers{name: c.name, imagePullPolicy: "IfNotPresent"})
  }
}`

// ifNotPresent makes Pods use the images the nodes imported. The lab has no registry, and
// Kubernetes defaults imagePullPolicy to Always for an image without a tag or tagged latest (the
// guide's hashicorp/http-echo, kubectl run --image=busybox): such a Pod would never start. A
// MutatingAdmissionPolicy (GA in 1.36) sets IfNotPresent on every container of a new Pod; an
// image no node has still fails with ErrImagePull, then ImagePullBackOff.
func ifNotPresent(ctx context.Context, kube kubernetes.Interface) error {
	fail := admissionregistrationv1.Fail
	never := admissionregistrationv1.NeverReinvocationPolicy
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PullPolicyName},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			FailurePolicy:      &fail,
			ReinvocationPolicy: never,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType:          admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: pullPolicyExpression},
			}},
		},
	}
	if _, err := kube.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the image pull policy's MutatingAdmissionPolicy: %w", err)
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: PullPolicyName},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: PullPolicyName},
	}
	if _, err := kube.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the image pull policy's binding: %w", err)
	}
	return nil
}
