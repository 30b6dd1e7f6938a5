package bgpmode

import (
	"net/netip"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	fdfake "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/fake"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// routeSpeaker keeps the last full set of routes.
type routeSpeaker struct {
	stateSpeaker
	mu   sync.Mutex
	last map[string][]routes.Route
}

func (s *routeSpeaker) SetRoutes(r map[string][]routes.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = r
	return nil
}

func (s *routeSpeaker) prefixes(peer string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.last[peer] {
		out = append(out, r.Prefix.String())
	}
	return out
}

// serviceEvents keeps the Warning Events on Services (BGPCommunityRefused); the BGPAdvertising
// ones are not this test's.
type serviceEvents struct{ warnings []string }

func (e *serviceEvents) Event(svcs []types.NamespacedName, evType, reason, msg string) {
	if evType == corev1.EventTypeWarning {
		for _, s := range svcs {
			e.warnings = append(e.warnings, s.String()+" "+reason+" "+msg)
		}
	}
}

func (e *serviceEvents) take() []string {
	out := e.warnings
	e.warnings = nil
	return out
}

// An advertisement aggregating beyond its pool (aggregationLength 16 on a /24 pool) advertises
// nothing of the pool, and one Warning Event on the BGPAdvertisement says why: from the first
// live speaker by name only, once, again from the next one when the first dies, and again when
// the refusal comes back after a fix (issue 17, item 8). A Service's community that no
// advertisement allows is told the same way, on the Service.
func TestRefusalsToldOnceByTheFirstSpeaker(t *testing.T) {
	pool := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "blue", ResourceVersion: "1"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}}}
	objs := []any{
		&v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor1"}, Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.1", PeerASN: 64512, LocalASN: 64513}},
		&v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "wide"}, Spec: v1alpha1.BGPAdvertisementSpec{AggregationLength: ptr.To[int32](16)}},
	}
	type speaker struct {
		p   *Protocol
		set *loop.Informers
		sp  *routeSpeaker
		rec *record.FakeRecorder
		svc *serviceEvents
	}
	start := func(name string) speaker {
		set := loop.NewInformers(kubefake.NewClientset(), fdfake.NewSimpleClientset().FrontdeskV1alpha1(), 0) // never started: the test fills the indexers
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *v1alpha1.BGPPeer:
				err = set.BGPPeers().GetIndexer().Add(o)
			case *v1alpha1.BGPAdvertisement:
				err = set.BGPAdvertisements().GetIndexer().Add(o)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := set.IPPools().GetIndexer().Add(pool); err != nil {
			t.Fatal(err)
		}
		s := speaker{set: set, sp: &routeSpeaker{}, rec: record.NewFakeRecorder(10), svc: &serviceEvents{}}
		var err error
		s.p, err = New(set, Config{NodeName: name, Namespace: "frontdesk", BGP: fdfake.NewSimpleClientset().FrontdeskV1alpha1(),
			Writes: loop.NewWriter(0, klog.Background()), Events: s.rec, Logger: klog.Background(),
			NewSpeaker: func(netip.Addr, bool, func(bgp.SessionState)) (Speaker, error) { return s.sp, nil }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	n1, n2 := start("n1"), start("n2")
	vip := netip.MustParseAddr("198.51.100.7")
	svc := objects.Service("default", "web", objects.LoadBalancer, objects.WithIngressIPs(vip.String()),
		objects.WithAnnotations(v1alpha1.ServiceCommunitiesAnnotation, "65000:7"))
	syncAs := func(s speaker, alive map[string]bool, internalIP string) {
		t.Helper()
		self := s.p.cfg.NodeName
		node := objects.Node(self, func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: internalIP}}
		})
		snap := &loop.Snapshot{Self: self, Node: node, Nodes: []*corev1.Node{node}, Services: []*corev1.Service{svc},
			Pools: map[netip.Addr]string{vip: "blue"}, Alive: alive, Now: metav1.Now()}
		if _, err := s.p.Sync(t.Context(), snap, s.svc); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(s speaker, alive map[string]bool) { t.Helper(); syncAs(s, alive, "10.0.0.11") }
	events := func(s speaker) []string {
		var out []string
		for {
			select {
			case e := <-s.rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}
	const told = "Warning BGPAggregationRefused spec.aggregationLength 16 would advertise 198.51.0.0/16 for 198.51.100.7 of IPPool blue, " +
		"a route covering addresses outside the pool; this advertisement does not advertise the pool's addresses it would aggregate so; " +
		"set spec.aggregationLength to 24 or more (the shortest route around 198.51.100.7 within the pool), or leave it unset (32)"
	check := func(what string, s speaker, want ...string) {
		t.Helper()
		if got := events(s); !slices.Equal(got, want) {
			t.Errorf("%s: %s's Events %q; want %q", what, s.p.cfg.NodeName, got, want)
		}
	}
	const community = "default/web BGPCommunityRefused community 65000:7 from annotation frontdesk.dev/bgp-communities is not attached: " +
		"not allowed by the serviceCommunities of any BGPAdvertisement of the address"
	checkService := func(what string, s speaker, want ...string) {
		t.Helper()
		if got := s.svc.take(); !slices.Equal(got, want) {
			t.Errorf("%s: %s's Events on Services %q; want %q", what, s.p.cfg.NodeName, got, want)
		}
	}

	both := map[string]bool{"n1": true, "n2": true}
	sync(n1, both)
	sync(n2, both)
	check("both alive", n1, told)
	check("both alive", n2)
	checkService("both alive", n1, community)
	checkService("both alive", n2)
	if got := n1.sp.prefixes("tor1"); len(got) != 0 {
		t.Errorf("n1 advertises %v; want nothing (the only advertisement aggregates beyond the pool)", got)
	}
	sync(n1, both)
	check("another run", n1)
	checkService("another run", n1)

	sync(n2, map[string]bool{"n1": false, "n2": true})
	check("n1 dead", n2, told)
	checkService("n1 dead", n2, community)

	fixed := pool.DeepCopy()
	fixed.Spec.Addresses, fixed.ResourceVersion = []string{"198.51.0.0/16"}, "2"
	if err := n2.set.IPPools().GetIndexer().Update(fixed); err != nil {
		t.Fatal(err)
	}
	sync(n2, map[string]bool{"n2": true})
	check("pool grown to the /16", n2)
	if got := n2.sp.prefixes("tor1"); !slices.Equal(got, []string{"198.51.0.0/16"}) {
		t.Errorf("n2 advertises %v; want the /16", got)
	}
	if err := n2.set.IPPools().GetIndexer().Update(pool); err != nil {
		t.Fatal(err)
	}
	sync(n2, map[string]bool{"n2": true})
	check("pool back to the /24", n2, told)

	// A first speaker without a BGP router ID (an IPv6-only node) peers with nobody, but the
	// refusal is the cluster's: it tells even so.
	n0 := start("n0")
	syncAs(n0, map[string]bool{"n0": true, "n2": true}, "2001:db8::10")
	check("first speaker without a router ID", n0, told)
	checkService("first speaker without a router ID", n0, community)
}
