package routes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

// IP plan: pool "blue" is 198.51.100.0/24 and 2001:db8:b::/64, pool "red" 203.0.113.0/24.
// This node is n1; n2 is another node.

// service is a LoadBalancer Service default/name with these ingress IPs; tweaks change it.
func service(name string, ips []string, tweaks ...func(*corev1.Service)) *corev1.Service {
	return objects.Service("default", name, append([]func(*corev1.Service){objects.LoadBalancer, objects.WithIngressIPs(ips...)}, tweaks...)...)
}

// node is this node, n1, Ready and labelled rack=a; tweaks change it.
func node(tweaks ...func(*corev1.Node)) *corev1.Node {
	return objects.Node("n1", append([]func(*corev1.Node){objects.WithLabel("rack", "a")}, tweaks...)...)
}

func slice(svc string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return objects.EndpointSlice("default", svc+"-x", svc, objects.WithAddressType(family), objects.WithEndpoints(eps...))
}

// endpoint is an endpoint on the node with only its Ready condition set (serving and terminating
// nil).
func endpoint(nodeName string, ready bool) discoveryv1.Endpoint {
	return objects.Endpoint(objects.OnNode(nodeName), objects.WithConditions(discoveryv1.EndpointConditions{Ready: &ready}))
}

// terminating is an endpoint of a Pod being deleted: not ready, serving as its readiness says.
func terminating(nodeName string, serving bool) discoveryv1.Endpoint {
	return objects.Endpoint(objects.OnNode(nodeName), objects.Conditions(false, serving, true))
}

func sel(t *testing.T, s string) labels.Selector {
	t.Helper()
	l, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func comms(t *testing.T, ss ...string) []v1alpha1.Community {
	var out []v1alpha1.Community
	for _, s := range ss {
		c, err := v1alpha1.ParseCommunity(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func u32(v uint32) *uint32 { return &v }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func nn(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "default", Name: name}
}

func baseSnapshot() Snapshot {
	return Snapshot{
		Self: "n1",
		Node: node(),
		Pools: map[netip.Addr]string{
			netip.MustParseAddr("198.51.100.7"):  "blue",
			netip.MustParseAddr("198.51.100.8"):  "blue",
			netip.MustParseAddr("2001:db8:b::7"): "blue",
			netip.MustParseAddr("203.0.113.9"):   "red",
		},
		PoolSpans: map[string]PoolSpan{
			"blue": span("198.51.100.0/24", "2001:db8:b::/64"),
			"red":  span("203.0.113.0/24"),
		},
		Peers: []Peer{{Name: "tor1"}, {Name: "tor2"}},
		Rules: []Rule{{Name: "all", AggregationLength: -1, AggregationLengthV6: -1}},
	}
}

// entries parses a pool's addresses as the speaker does.
func entries(ss ...string) []v1alpha1.AddressEntry {
	es, err := v1alpha1.ParseAddresses(ss)
	if err != nil {
		panic(err)
	}
	return es
}

// span is a pool's span, as the speaker keeps it.
func span(ss ...string) PoolSpan { return SpanOf(entries(ss...)) }

// planCase is a run of Compute on baseSnapshot changed by tweak, and the plan it must give.
type planCase struct {
	name         string
	tweak        func(*Snapshot)
	routes       map[string][]Route
	reasons      map[string]Reason // address → reason
	refused      []RefusedCommunity
	aggregations []RefusedAggregation
}

// checkPlans runs each case as a subtest.
func checkPlans(t *testing.T, cases []planCase) {
	t.Helper()
	prefixes := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	addrs := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSnapshot()
			tt.tweak(&s)
			plan := Compute(s)
			if d := cmp.Diff(tt.routes, plan.Routes, prefixes); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
			got := map[string]Reason{}
			for _, d := range plan.Decisions {
				got[d.Addr.String()] = d.Reason
			}
			if d := cmp.Diff(tt.reasons, got); d != "" {
				t.Errorf("reasons (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.refused, plan.Refused); d != "" {
				t.Errorf("refused (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.aggregations, plan.Aggregations, prefixes, addrs); d != "" {
				t.Errorf("refused aggregations (-want +got):\n%s", d)
			}
		})
	}
}

func TestCompute(t *testing.T) {
	checkPlans(t, []planCase{
		{
			name: "every node advertises to every peer, /32 and /128",
			tweak: func(s *Snapshot) {
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7", "2001:db8:b::7"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.7/32")}, {Prefix: pfx("2001:db8:b::7/128")}},
				"tor2": {{Prefix: pfx("198.51.100.7/32")}, {Prefix: pfx("2001:db8:b::7/128")}},
			},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "2001:db8:b::7": Advertising},
		},
		{
			name: "not frontdesk's address, not advertised pool, other class, not a LoadBalancer",
			tweak: func(s *Snapshot) {
				s.Rules[0].Pools = []string{"blue"}
				other := "other.example/lb"
				s.Services = []*corev1.Service{
					service("a", []string{"192.0.2.1", "203.0.113.9"}),
					service("b", []string{"198.51.100.7"}, objects.WithClass(other)),
					service("c", []string{"198.51.100.8"}, objects.WithType(corev1.ServiceTypeNodePort)),
				}
			},
			routes:  map[string][]Route{"tor1": nil, "tor2": nil},
			reasons: map[string]Reason{"192.0.2.1": NoPool, "203.0.113.9": NotAdvertised},
		},
		{
			name: "pool selected by label",
			tweak: func(s *Snapshot) {
				s.Rules[0].PoolSelectors = []labels.Selector{sel(t, "tier=public")}
				s.PoolLabels = map[string]labels.Set{"red": {"tier": "public"}}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7", "203.0.113.9"})}
			},
			routes:  map[string][]Route{"tor1": {{Prefix: pfx("203.0.113.9/32")}}, "tor2": {{Prefix: pfx("203.0.113.9/32")}}},
			reasons: map[string]Reason{"198.51.100.7": NotAdvertised, "203.0.113.9": Advertising},
		},
		{
			name: "peer selects other nodes; advertisement names one peer",
			tweak: func(s *Snapshot) {
				s.Peers = []Peer{{Name: "tor1", NodeSelectors: []labels.Selector{sel(t, "rack=b")}}, {Name: "tor2"}, {Name: "tor3"}}
				s.Rules[0].Peers = []string{"tor1", "tor3"}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor2": nil, "tor3": {{Prefix: pfx("198.51.100.7/32")}}},
			reasons: map[string]Reason{"198.51.100.7": Advertising},
		},
		{
			name: "no peer of this node is selected",
			tweak: func(s *Snapshot) {
				s.Rules[0].Peers = []string{"tor9"}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor1": nil, "tor2": nil},
			reasons: map[string]Reason{"198.51.100.7": NoPeer},
		},
		{
			name: "advertisement selects other nodes",
			tweak: func(s *Snapshot) {
				s.Rules[0].NodeSelectors = []labels.Selector{sel(t, "rack=b")}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor1": nil, "tor2": nil},
			reasons: map[string]Reason{"198.51.100.7": NodeNotSelected},
		},
		{
			name: "ETP Local: ready endpoint here, elsewhere, not ready, other family",
			tweak: func(s *Snapshot) {
				s.Services = []*corev1.Service{
					service("here", []string{"198.51.100.7"}, objects.LocalTraffic),
					service("elsewhere", []string{"198.51.100.8"}, objects.LocalTraffic),
					service("v6only", []string{"2001:db8:b::7"}, objects.LocalTraffic),
					service("notready", []string{"203.0.113.9"}, objects.LocalTraffic),
				}
				s.EndpointSlices = []*discoveryv1.EndpointSlice{
					slice("here", discoveryv1.AddressTypeIPv4, endpoint("n2", true), endpoint("n1", true)),
					slice("elsewhere", discoveryv1.AddressTypeIPv4, endpoint("n2", true), endpoint("n1", false)),
					slice("v6only", discoveryv1.AddressTypeIPv4, endpoint("n1", true)),
					slice("notready", discoveryv1.AddressTypeIPv4, endpoint("n1", false)),
				}
			},
			routes: map[string][]Route{"tor1": {{Prefix: pfx("198.51.100.7/32")}}, "tor2": {{Prefix: pfx("198.51.100.7/32")}}},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "198.51.100.8": NoLocalEndpoint,
				"2001:db8:b::7": NoLocalEndpoint, "203.0.113.9": NoLocalEndpoint},
		},
		{
			// served.Local.Serves: a node that only drains loses the route while another node
			// has a ready endpoint, keeps it when none has.
			name: "ETP Local: serving terminating endpoints count only when none is ready anywhere",
			tweak: func(s *Snapshot) {
				s.Services = []*corev1.Service{
					service("draining", []string{"198.51.100.7"}, objects.LocalTraffic),
					service("last", []string{"198.51.100.8"}, objects.LocalTraffic),
					service("notserving", []string{"203.0.113.9"}, objects.LocalTraffic),
				}
				s.EndpointSlices = []*discoveryv1.EndpointSlice{
					slice("draining", discoveryv1.AddressTypeIPv4, terminating("n1", true), endpoint("n2", true)),
					slice("last", discoveryv1.AddressTypeIPv4, terminating("n1", true), terminating("n2", true)),
					slice("notserving", discoveryv1.AddressTypeIPv4, terminating("n1", false)),
				}
			},
			routes:  map[string][]Route{"tor1": {{Prefix: pfx("198.51.100.8/32")}}, "tor2": {{Prefix: pfx("198.51.100.8/32")}}},
			reasons: map[string]Reason{"198.51.100.7": NoLocalEndpoint, "198.51.100.8": Advertising, "203.0.113.9": NoLocalEndpoint},
		},
		{
			name: "shared address: every Local Service needs an endpoint here",
			tweak: func(s *Snapshot) {
				s.Services = []*corev1.Service{
					service("a", []string{"198.51.100.7"}, objects.LocalTraffic),
					service("b", []string{"198.51.100.7"}, objects.LocalTraffic),
					service("c", []string{"198.51.100.8"}, objects.LocalTraffic),
					service("d", []string{"198.51.100.8"}),
				}
				s.EndpointSlices = []*discoveryv1.EndpointSlice{
					slice("a", discoveryv1.AddressTypeIPv4, endpoint("n1", true)),
					slice("b", discoveryv1.AddressTypeIPv4, endpoint("n2", true)),
					slice("c", discoveryv1.AddressTypeIPv4, endpoint("n1", true)),
				}
			},
			routes:  map[string][]Route{"tor1": {{Prefix: pfx("198.51.100.8/32")}}, "tor2": {{Prefix: pfx("198.51.100.8/32")}}},
			reasons: map[string]Reason{"198.51.100.7": NoLocalEndpoint, "198.51.100.8": Advertising},
		},
		{
			name: "attributes add up; highest local preference; per peer",
			tweak: func(s *Snapshot) {
				s.Rules = []Rule{
					{Name: "a", Peers: []string{"tor1"}, Communities: comms(t, "65000:2", "65000:1"), LocalPref: u32(100),
						LargeCommunities: []v1alpha1.LargeCommunity{{Global: 65000, Local1: 2, Local2: 3}}, AggregationLength: -1, AggregationLengthV6: -1},
					{Name: "b", Communities: comms(t, "65000:1", "no-export"), LocalPref: u32(200), AggregationLength: -1, AggregationLengthV6: -1,
						LargeCommunities: []v1alpha1.LargeCommunity{{Global: 65000, Local1: 2, Local2: 3}, {Global: 1, Local1: 0, Local2: 0}}},
				}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.7/32"), Communities: comms(t, "65000:1", "65000:2", "no-export"), LocalPref: u32(200),
					LargeCommunities: []v1alpha1.LargeCommunity{{Global: 1}, {Global: 65000, Local1: 2, Local2: 3}}}},
				"tor2": {{Prefix: pfx("198.51.100.7/32"), Communities: comms(t, "65000:1", "no-export"), LocalPref: u32(200),
					LargeCommunities: []v1alpha1.LargeCommunity{{Global: 1}, {Global: 65000, Local1: 2, Local2: 3}}}},
			},
			reasons: map[string]Reason{"198.51.100.7": Advertising},
		},
		{
			name: "aggregation: two addresses, one /24; IPv6 /64",
			tweak: func(s *Snapshot) {
				s.Rules[0].AggregationLength, s.Rules[0].AggregationLengthV6 = 24, 64
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7", "2001:db8:b::7"}), service("b", []string{"198.51.100.8"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.0/24")}, {Prefix: pfx("2001:db8:b::/64")}},
				"tor2": {{Prefix: pfx("198.51.100.0/24")}, {Prefix: pfx("2001:db8:b::/64")}},
			},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "198.51.100.8": Advertising, "2001:db8:b::7": Advertising},
		},
		{
			name: "Service communities: allowed ones added, others refused",
			tweak: func(s *Snapshot) {
				s.Peers = []Peer{{Name: "tor1"}}
				s.Rules[0].ServiceCommunities = []v1alpha1.CommunityPattern{{Community: 65000 << 16, AnyValue: true}}
				s.Services = []*corev1.Service{
					service("a", []string{"198.51.100.7"}, objects.WithAnnotations(v1alpha1.ServiceCommunitiesAnnotation, "65000:7, 65001:1,no-export,bogus")),
					service("b", []string{"198.51.100.8"}),
				}
			},
			routes: map[string][]Route{"tor1": {
				{Prefix: pfx("198.51.100.7/32"), Communities: comms(t, "65000:7")},
				{Prefix: pfx("198.51.100.8/32")},
			}},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "198.51.100.8": Advertising},
			refused: []RefusedCommunity{
				{Service: nn("a"), Community: "65001:1", Why: notAllowed},
				{Service: nn("a"), Community: "bogus", Why: `invalid BGP community "bogus": want ASN:VALUE with both halves 0 to 65535 (65000:100), or no-export, no-advertise, no-export-subconfed or no-peer`},
				{Service: nn("a"), Community: "no-export", Why: notAllowed},
			},
		},
		{
			// Review M1: a co-sharer must not put a community on another Service's route.
			name: "Service communities on a shared address: only those every Service asks for",
			tweak: func(s *Snapshot) {
				s.Peers = []Peer{{Name: "tor1"}}
				s.Rules[0].Communities = comms(t, "65000:100")
				s.Rules[0].ServiceCommunities = []v1alpha1.CommunityPattern{{Community: 65000 << 16, AnyValue: true}, {Community: comms(t, "no-export")[0]}}
				s.Services = []*corev1.Service{
					service("a", []string{"198.51.100.7"}, objects.WithAnnotations(v1alpha1.ServiceCommunitiesAnnotation, "65000:7,65000:8")),
					service("b", []string{"198.51.100.7"}, objects.WithAnnotations(v1alpha1.ServiceCommunitiesAnnotation, "no-export,65000:7")),
					objects.Service("other", "c", objects.LoadBalancer, objects.WithIngressIPs("198.51.100.8")),
					service("d", []string{"198.51.100.8"}, objects.WithAnnotations(v1alpha1.ServiceCommunitiesAnnotation, "no-export")),
				}
			},
			routes: map[string][]Route{"tor1": {
				{Prefix: pfx("198.51.100.7/32"), Communities: comms(t, "65000:7", "65000:100")},
				{Prefix: pfx("198.51.100.8/32"), Communities: comms(t, "65000:100")},
			}},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "198.51.100.8": Advertising},
			refused: []RefusedCommunity{
				{Service: nn("a"), Community: "65000:8", Why: notShared},
				{Service: nn("b"), Community: "no-export", Why: notShared},
				{Service: nn("d"), Community: "no-export", Why: notShared},
			},
		},
	})
}

// TestComputeNode checks that a node that must not attract traffic withdraws everything.
func TestComputeNode(t *testing.T) {
	for _, tt := range []struct {
		name string
		node *corev1.Node
		want Reason
	}{
		{"ready", node(), Advertising},
		{"unknown", nil, NodeUnknown},
		{"not ready", node(objects.NotReady), NodeNotReady},
		{"no Ready condition", node(objects.NoConditions), NodeNotReady},
		{"excluded", node(objects.WithLabel(corev1.LabelNodeExcludeBalancers, "")), NodeExcluded},
		{"exclude label false", node(objects.WithLabel(corev1.LabelNodeExcludeBalancers, "false")), Advertising},
		{"to be deleted", node(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: served.TaintToBeDeleted}} }), NodeToBeDeleted},
		{"being deleted", node(objects.WithDeletionTimestamp(metav1.Time{})), NodeToBeDeleted},
		// A cordon stops new Pods, not traffic (docs/design/eligibility.md).
		{"cordoned", node(objects.Unschedulable), Advertising},
		{"network unavailable", node(objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), NetworkUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSnapshot()
			s.Node = tt.node
			s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			plan := Compute(s)
			if got := plan.Decisions[0].Reason; got != tt.want {
				t.Errorf("reason %s, want %s", got, tt.want)
			}
			n := 0
			for _, rs := range plan.Routes {
				n += len(rs)
			}
			if want := map[bool]int{true: 2, false: 0}[tt.want == Advertising]; n != want {
				t.Errorf("%d routes, want %d", n, want)
			}
		})
	}
}

func TestRuleFromAdvertisement(t *testing.T) {
	lp, agg := int64(150), int32(24)
	r, err := RuleFromAdvertisement(&v1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "adv"},
		Spec: v1alpha1.BGPAdvertisementSpec{
			IPPools: []string{"blue"}, Peers: []string{"tor1"}, Communities: []string{"65000:1", "no-export"},
			LargeCommunities: []string{"1:2:3"}, LocalPreference: &lp, AggregationLength: &agg,
			ServiceCommunities: []string{"65000:*"},
			NodeSelectors:      []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "a"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "adv" || *r.LocalPref != 150 || r.AggregationLength != 24 || r.AggregationLengthV6 != -1 ||
		len(r.Communities) != 2 || r.LargeCommunities[0] != (v1alpha1.LargeCommunity{Global: 1, Local1: 2, Local2: 3}) ||
		!r.ServiceCommunities[0].AnyValue || !r.NodeSelectors[0].Matches(labels.Set{"rack": "a"}) {
		t.Errorf("rule %+v", r)
	}
	for _, tt := range []struct {
		name string
		spec v1alpha1.BGPAdvertisementSpec
		want string
	}{
		{"community", v1alpha1.BGPAdvertisementSpec{Communities: []string{"65000:1", "70000:1"}},
			`spec.communities[1]: invalid BGP community "70000:1": each half must be 0 to 65535 in decimal without leading zeros (65000:100)`},
		{"selector", v1alpha1.BGPAdvertisementSpec{NodeSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}}},
			`spec.nodeSelectors[0] is not a valid label selector: "Near" is not a valid label selector operator`},
		// Stored before the CRD's floor: a default route must not be advertised.
		{"default route", v1alpha1.BGPAdvertisementSpec{AggregationLength: ptr.To[int32](0)},
			"spec.aggregationLength 0 is out of range; want 8 to 32"},
		{"IPv6 shorter than a pool entry", v1alpha1.BGPAdvertisementSpec{AggregationLengthV6: ptr.To[int32](16)},
			"spec.aggregationLengthV6 16 is out of range; want 32 to 128"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RuleFromAdvertisement(&v1alpha1.BGPAdvertisement{Spec: tt.spec})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v\nwant %s", err, tt.want)
			}
		})
	}
}
