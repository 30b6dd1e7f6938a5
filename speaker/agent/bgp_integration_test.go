//go:build integration

package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// fakeBGP records the last full sets, reports every configured session Established, and
// counts Close.
type fakeBGP struct {
	mu       sync.Mutex
	routerID netip.Addr
	peers    []bgp.PeerConfig
	routes   map[string][]routes.Route
	closed   int
	onState  func(bgp.SessionState)
}

func (f *fakeBGP) SetPeers(p []bgp.PeerConfig) error {
	f.mu.Lock()
	f.peers = slices.Clone(p)
	f.mu.Unlock()
	return nil
}

func (f *fakeBGP) SetRoutes(r map[string][]routes.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = r
	return nil
}

func (f *fakeBGP) Sessions() []bgp.SessionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bgp.SessionState
	for _, p := range f.peers {
		out = append(out, bgp.SessionState{Peer: p.Name, State: bgp.StateEstablished, Since: time.Now(), RoutesAdvertised: len(f.routes[p.Name])})
	}
	return out
}

func (f *fakeBGP) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	f.routes = nil
	return nil
}

func (f *fakeBGP) snapshot() (netip.Addr, []bgp.PeerConfig, map[string][]routes.Route, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routerID, slices.Clone(f.peers), f.routes, f.closed
}

func TestBGPAgent(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	kube := c.Client
	vip := netip.MustParseAddr("198.51.100.7")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"rack": "a"}}}, metav1.CreateOptions{})
	must(n, err)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}
	must(kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))
	must(kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "frontdesk"}}, metav1.CreateOptions{}))
	must(kube.CoreV1().Secrets("frontdesk").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tor-password",
		Labels: map[string]string{v1alpha1.BGPPasswordSecretLabel: "true"}},
		Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{}))
	// Without the label the speaker does not see a Secret, even in its namespace (issue 17).
	must(kube.CoreV1().Secrets("frontdesk").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unlabelled"},
		Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{}))
	must(api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "blue"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}}}, metav1.CreateOptions{}))
	must(api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor1"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.1", PeerASN: 64512, LocalASN: 64513,
			PasswordSecret: &v1alpha1.SecretKeyRef{Name: "tor-password"}}}, metav1.CreateOptions{}))
	must(api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor2"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.2", PeerASN: 64512, LocalASN: 64513,
			PasswordSecret: &v1alpha1.SecretKeyRef{Name: "missing"}}}, metav1.CreateOptions{}))
	must(api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor3"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.3", PeerASN: 64512, LocalASN: 64513,
			PasswordSecret: &v1alpha1.SecretKeyRef{Name: "unlabelled"}}}, metav1.CreateOptions{}))
	must(api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "other-rack"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.1.1", PeerASN: 64512, LocalASN: 64513,
			NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}}}, metav1.CreateOptions{}))
	must(api.BGPAdvertisements().Create(ctx, &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: v1alpha1.BGPAdvertisementSpec{Communities: []string{"65000:100"}}}, metav1.CreateOptions{}))
	svc, err := kube.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{v1alpha1.ServiceCommunitiesAnnotation: "65000:7"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	must(svc, err)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.String()}}
	svc, err = kube.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	must(svc, err)
	must(api.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(vip)},
		Spec: v1alpha1.IPAllocationSpec{Address: vip.String(), Pool: "blue",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: svc.UID}}},
	}, metav1.CreateOptions{}))

	fake := &fakeBGP{}
	_, tctx := ktesting.NewTestContext(t)
	actx, stop := context.WithCancel(tctx)
	done := make(chan error, 1)
	go func() {
		done <- runLoop(actx, kube, LoopConfig{
			Config: loop.Config{NodeName: "node-1", API: api,
				Informers: loop.NewInformers(kube, api, time.Minute), Logger: klog.FromContext(actx)},
			BGP: &bgpmode.Config{NodeName: "node-1", Namespace: "frontdesk", BGP: api, Logger: klog.FromContext(actx),
				NewSpeaker: func(id netip.Addr, listen bool, onState func(bgp.SessionState)) (bgpmode.Speaker, error) {
					fake.mu.Lock()
					fake.routerID, fake.onState = id, onState
					fake.mu.Unlock()
					return fake, nil
				}},
		})
	}()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()

	poll := func(what string, cond func() string) {
		t.Helper()
		last := ""
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			last = cond()
			return last == "", nil
		})
		if err != nil {
			t.Fatalf("%s: %v; last seen: %s", what, err, last)
		}
	}
	comm := func(s string) v1alpha1.Community {
		v, err := v1alpha1.ParseCommunity(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	poll("the speaker peers with tor1 and advertises the VIP", func() string {
		id, peers, rs, _ := fake.snapshot()
		var names []string
		for _, p := range peers {
			names = append(names, p.Name+"/"+p.Password)
		}
		want := map[string][]routes.Route{"tor1": {{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Communities: []v1alpha1.Community{comm("65000:100")}}}}
		if d := cmp.Diff(want, rs); id.String() != "10.0.0.11" || !slices.Equal(names, []string{"tor1/s3cret"}) || d != "" {
			return fmt.Sprintf("router ID %v, peers %v, routes (-want +got):\n%s", id, names, d)
		}
		return ""
	})
	poll("IPAllocation names node-1 over BGP", func() string {
		a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		ok := len(a.Status.Announcers) == 1 && a.Status.Announcers[0].Node == "node-1" && a.Status.Announcers[0].Mode == v1alpha1.AnnouncementModeBGP
		for _, c := range a.Status.Conditions {
			ok = ok && c.Status == metav1.ConditionTrue && c.Message == "198.51.100.7 is announced from node-1 (BGP)"
		}
		if !ok || len(a.Status.Conditions) != 1 {
			return dump(a.Status)
		}
		return ""
	})
	sessions := func(peer string) string {
		p, err := api.BGPPeers().Get(ctx, peer, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, s := range p.Status.Sessions {
			out = append(out, fmt.Sprintf("%s %s %d %s", s.Node, s.State, s.RoutesAdvertised, s.Message))
		}
		return strings.Join(out, "; ")
	}
	poll("BGPPeer status shows the sessions", func() string {
		got := []string{sessions("tor1"), sessions("tor2"), sessions("tor3"), sessions("other-rack")}
		want := []string{"node-1 Established 1 ",
			"node-1 Idle 0 password Secret frontdesk/missing not found among the Secrets labelled frontdesk.dev/bgp-password=true (the speakers read no others)",
			"node-1 Idle 0 password Secret frontdesk/unlabelled not found among the Secrets labelled frontdesk.dev/bgp-password=true (the speakers read no others)",
			""}
		if d := cmp.Diff(want, got); d != "" {
			return d
		}
		return ""
	})
	poll("Events: advertising, and the refused community", func() string {
		evs, err := kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			// Only the speaker's: the API server's repair loops may record their own (a
			// ClusterIPNotAllocated on the Service, say).
			if e.Source.Component == loop.Component {
				seen = append(seen, e.Reason+": "+e.Message)
			}
		}
		slices.Sort(seen)
		want := []string{
			"BGPAdvertising: 198.51.100.7 is advertised over BGP from node-1 to tor1",
			"BGPCommunityRefused: community 65000:7 from annotation frontdesk.dev/bgp-communities is not attached: not allowed by the serviceCommunities of any BGPAdvertisement of the address",
		}
		if d := cmp.Diff(want, seen); d != "" {
			return d
		}
		return ""
	})

	// externalTrafficPolicy Local with no endpoint on this node: the route goes, and so does
	// the status entry; with none left, Announced is False.
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	must(kube.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}))
	poll("withdrawn without a local endpoint", func() string {
		_, _, rs, _ := fake.snapshot()
		if len(rs["tor1"]) != 0 {
			return fmt.Sprintf("routes %v", rs)
		}
		a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(a.Status.Announcers) != 0 || len(a.Status.Conditions) != 1 || a.Status.Conditions[0].Reason != v1alpha1.IPAllocationReasonNoEligibleNode {
			return dump(a.Status)
		}
		return ""
	})
	ready := true
	nodeName := "node-1"
	must(kube.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, NodeName: &nodeName,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, metav1.CreateOptions{}))
	poll("advertised again with a ready local endpoint", func() string {
		if _, _, rs, _ := fake.snapshot(); len(rs["tor1"]) != 1 {
			return fmt.Sprintf("routes %v", rs)
		}
		return ""
	})

	// An advertisement aggregating beyond its pool (a /16 of a /24 pool) advertises nothing of
	// it, and says why on the BGPAdvertisement; the other advertisement of the pool still
	// advertises the address (issue 17, item 8).
	must(api.BGPAdvertisements().Create(ctx, &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "wide"},
		Spec: v1alpha1.BGPAdvertisementSpec{IPPools: []string{"blue"}, AggregationLength: ptr.To[int32](16)}}, metav1.CreateOptions{}))
	poll("a Warning Event on the BGPAdvertisement, and no /16", func() string {
		evs, err := kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Source.Component == loop.Component && e.InvolvedObject.Kind == "BGPAdvertisement" {
				seen = append(seen, fmt.Sprintf("%s %s %s: %s", e.Type, e.InvolvedObject.Name, e.Reason, e.Message))
			}
		}
		want := []string{"Warning wide BGPAggregationRefused: spec.aggregationLength 16 would advertise 198.51.0.0/16 for 198.51.100.7 of IPPool blue, " +
			"a route covering addresses outside the pool; this advertisement does not advertise the pool's addresses it would aggregate so; " +
			"set spec.aggregationLength to 24 or more (the shortest route around 198.51.100.7 within the pool), or leave it unset (32)"}
		if d := cmp.Diff(want, seen); d != "" {
			return "Events (-want +got):\n" + d
		}
		_, _, rs, _ := fake.snapshot()
		if d := cmp.Diff(map[string][]routes.Route{"tor1": {{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Communities: []v1alpha1.Community{comm("65000:100")}}}}, rs); d != "" {
			return "routes (-want +got):\n" + d
		}
		return ""
	})

	// Shutdown: the speaker is closed (which withdraws), and this node's entries go.
	stop()
	stopped = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, _, closed := fake.snapshot(); closed != 1 {
		t.Errorf("speaker closed %d times, want 1", closed)
	}
	a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
	must(a, err)
	if len(a.Status.Announcers) != 0 {
		t.Errorf("after shutdown: %s", dump(a.Status))
	}
	if s := sessions("tor1"); s != "" {
		t.Errorf("after shutdown, tor1 sessions: %s", s)
	}
}
