package served_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// randomNode draws a Node with random facts: the exclude label absent or with a value that
// excludes ("", "true", garbage) or not ("false", "0"), the taints that matter and others, a
// cordon, a deletion, and Ready and NetworkUnavailable conditions in any state or absent.
func randomNode(r *rand.Rand, name string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if values := []string{"", "true", "false", "0", "maybe", "FALSE"}; r.IntN(2) == 0 {
		n.Labels[corev1.LabelNodeExcludeBalancers] = values[r.IntN(len(values))]
	}
	for _, key := range []string{served.TaintToBeDeleted, corev1.TaintNodeOutOfService, corev1.TaintNodeUnschedulable, "example.com/dedicated"} {
		if r.IntN(6) == 0 {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	n.Spec.Unschedulable = r.IntN(4) == 0
	if r.IntN(10) == 0 {
		n.DeletionTimestamp = &metav1.Time{}
	}
	statuses := []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionTrue, corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown, ""}
	for _, typ := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeNetworkUnavailable, corev1.NodeMemoryPressure} {
		st := statuses[r.IntN(len(statuses))]
		if typ == corev1.NodeNetworkUnavailable && st == corev1.ConditionTrue && r.IntN(2) == 0 {
			st = corev1.ConditionFalse // True less often than Ready's
		}
		if st != "" {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: st})
		}
	}
	r.Shuffle(len(n.Status.Conditions), func(i, j int) {
		n.Status.Conditions[i], n.Status.Conditions[j] = n.Status.Conditions[j], n.Status.Conditions[i]
	})
	return n
}

// TestEveryAnnouncerIsATarget: the policies themselves.
func TestEveryAnnouncerIsATarget(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 2))
	for i := range 20000 {
		n := randomNode(r, fmt.Sprintf("n%d", i))
		f := served.NodeOf(n)
		if f.Announcer() == "" && f.LoadBalancerTarget() != "" {
			t.Fatalf("node %+v: a speaker may announce from it, the controller does not count it (%s)", n, f.LoadBalancerTarget())
		}
	}
}

var (
	vipCluster = netip.MustParseAddr("192.0.2.10")
	vipLocal   = netip.MustParseAddr("192.0.2.11")
)

// randomCluster draws 1 to 6 random nodes, a Cluster Service and a Local one whose endpoints
// are ready, serving and terminating, or not ready on random nodes.
func randomCluster(r *rand.Rand) ([]*corev1.Node, []*corev1.Service, []*discoveryv1.EndpointSlice) {
	var nodes []*corev1.Node
	for i := range 1 + r.IntN(6) {
		nodes = append(nodes, randomNode(r, fmt.Sprintf("node-%d", i)))
	}
	svc := func(name string, vip netip.Addr, policy corev1.ServiceExternalTrafficPolicy) *corev1.Service {
		return objects.Service("ns", name, objects.LoadBalancer, objects.WithExternalTrafficPolicy(policy), objects.WithIngressIPs(vip.String()))
	}
	svcs := []*corev1.Service{
		svc("web", vipCluster, corev1.ServiceExternalTrafficPolicyCluster),
		svc("db", vipLocal, corev1.ServiceExternalTrafficPolicyLocal),
	}
	es := objects.EndpointSlice("ns", "db-1", "db")
	for i, n := range nodes {
		state := []func(*discoveryv1.Endpoint){objects.EndpointReady, objects.EndpointTerminating, objects.EndpointNotReady}[r.IntN(3)]
		if r.IntN(2) == 0 {
			es.Endpoints = append(es.Endpoints, objects.Endpoint(
				objects.Addresses(fmt.Sprintf("10.0.0.%d", i+1)), objects.OnNode(n.Name), state))
		}
	}
	return nodes, svcs, []*discoveryv1.EndpointSlice{es}
}

// TestSpeakersElectOnlyTargets: every node a speaker may elect (layer 2) or advertise from (BGP)
// is one the service controller counts, through the planners themselves; and both planners
// apply the same rule, package served's, to a node.
func TestSpeakersElectOnlyTargets(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 3))
	// How often the decided rules were exercised, so that the test cannot pass by never
	// reaching them.
	var elected, electedExcludeFalse, electedCordoned, targetNotAnnouncer int
	for range 1500 {
		nodes, svcs, slices := randomCluster(r)
		byName := map[string]*corev1.Node{}
		alive := map[string]bool{}
		for _, n := range nodes {
			byName[n.Name] = n
			alive[n.Name] = true
		}
		counts := func(name string) bool { return served.NodeOf(byName[name]).LoadBalancerTarget() == "" }
		pools := map[netip.Addr]string{vipCluster: "blue", vipLocal: "blue"}
		for _, self := range nodes {
			f := served.NodeOf(self)
			if f.LoadBalancerTarget() == "" && f.Announcer() != "" {
				targetNotAnnouncer++
			}

			plan, err := announce.Compute(announce.Snapshot{
				Self: self.Name, Nodes: nodes, Alive: alive, Services: svcs, EndpointSlices: slices,
				Pools: pools, Rules: []announce.L2Rule{{Name: "all"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range plan.Decisions {
				if d.Winner != "" && !counts(d.Winner) {
					t.Fatalf("layer 2 elects %s for %s; the controller does not count it (%s)\nnode: %+v",
						d.Winner, d.Addr, served.NodeOf(byName[d.Winner]).LoadBalancerTarget(), byName[d.Winner])
				}
				if d.Winner != "" {
					elected++
					w := byName[d.Winner]
					if v, ok := w.Labels[corev1.LabelNodeExcludeBalancers]; ok && (v == "false" || v == "0" || v == "FALSE") {
						electedExcludeFalse++
					}
					if w.Spec.Unschedulable {
						electedCordoned++
					}
				}
				if d.Addr == vipCluster {
					// One rule for a node in both modes: layer 2 rules it out exactly when
					// served does.
					if ruled := d.Reason == announce.Announcing || d.Reason == announce.NotElected; ruled != (f.Announcer() == "") {
						t.Fatalf("layer 2 says %s for %s, served says %q", d.Reason, self.Name, f.Announcer())
					}
				}
			}

			bp := routes.Compute(routes.Snapshot{
				Self: self.Name, Node: self, Services: svcs, EndpointSlices: slices, Pools: pools,
				Peers: []routes.Peer{{Name: "tor"}},
				Rules: []routes.Rule{{Name: "all", AggregationLength: -1, AggregationLengthV6: -1}},
			})
			for _, d := range bp.Decisions {
				if d.Advertised() && !counts(self.Name) {
					t.Fatalf("BGP advertises %s from %s; the controller does not count it (%s)\nnode: %+v",
						d.Addr, self.Name, f.LoadBalancerTarget(), self)
				}
				if d.Addr == vipCluster && d.Advertised() != (f.Announcer() == "") {
					t.Fatalf("BGP says %s for %s, served says %q", d.Reason, self.Name, f.Announcer())
				}
			}
		}
	}
	t.Logf("%d elections won, %d by nodes labelled exclude=false, %d by cordoned nodes; %d node views counted by the controller only",
		elected, electedExcludeFalse, electedCordoned, targetNotAnnouncer)
	if elected == 0 || electedExcludeFalse == 0 || electedCordoned == 0 || targetNotAnnouncer == 0 {
		t.Errorf("the generator did not reach every decided rule")
	}
}
