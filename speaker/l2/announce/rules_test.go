package announce

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func TestComputeRules(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	w := top(t, vip1, all...)
	bc := top(t, vip1, "node-b", "node-c")
	web := services(newService("web", ingress(vip1)))
	rackB := func(s *Snapshot) {
		tweakNode("node-b", objects.WithLabel("rack", "b"))(s)
		tweakNode("node-c", objects.WithLabel("rack", "c"))(s)
	}
	onRacks := []labels.Selector{selector(t, "rack in (b,c)")}
	blue := func(d Decision, rules ...string) Decision { d.Rules = rules; return d }
	ifaces := func(d Decision, is ...string) Decision { d.Interfaces = is; return d }
	reason := func(winner, self string) Reason {
		if winner == self {
			return Announcing
		}
		return NotElected
	}
	tests := []computeCase{
		{
			name: "no rules: not advertised",
			snap: snap(w, web, rules()),
			want: []Decision{{Addr: vip1, Pool: "blue", Services: dec(vip1, "", "", "web").Services, Reason: NotAdvertised}},
		},
		{
			name: "rule for another pool: not advertised",
			snap: snap(w, web, rules(L2Rule{Name: "l2/green", Pools: []string{"green"}})),
			want: []Decision{{Addr: vip1, Pool: "blue", Services: dec(vip1, "", "", "web").Services, Reason: NotAdvertised}},
		},
		{
			name: "rule naming the pool",
			snap: snap(w, web, rules(L2Rule{Name: "l2/green", Pools: []string{"green"}}, L2Rule{Name: "l2/blue", Pools: []string{"blue"}})),
			want: []Decision{blue(dec(vip1, w, Announcing, "web"), "l2/blue")},
		},
		{
			name: "rule selecting the pool by label",
			snap: snap(w, web, rules(L2Rule{Name: "l2/public", PoolSelectors: []labels.Selector{selector(t, "exposure=public")}}),
				func(s *Snapshot) {
					s.PoolLabels = map[string]labels.Set{"blue": {"exposure": "public"}, "green": {"exposure": "internal"}}
				}),
			want: []Decision{blue(dec(vip1, w, Announcing, "web"), "l2/public")},
		},
		{
			name: "pool selector not matching",
			snap: snap(w, web, rules(L2Rule{Name: "l2/public", PoolSelectors: []labels.Selector{selector(t, "exposure=public")}}),
				func(s *Snapshot) { s.PoolLabels = map[string]labels.Set{"blue": {"exposure": "internal"}} }),
			want: []Decision{{Addr: vip1, Pool: "blue", Services: dec(vip1, "", "", "web").Services, Reason: NotAdvertised}},
		},
		{
			name: "node selector: this node not selected",
			snap: snap("node-a", web, rackB, rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{blue(dec(vip1, bc, NodeNotSelected, "web"), "l2/racks")},
		},
		{
			name: "node selector: ranked among the selected nodes",
			snap: snap("node-b", web, rackB, rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{blue(dec(vip1, bc, reason(bc, "node-b"), "web"), "l2/racks")},
		},
		{
			name: "node selector matching nothing",
			snap: snap("node-a", web, rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{blue(dec(vip1, "", NodeNotSelected, "web"), "l2/racks")},
		},
		{
			name: "nil node selector matches nothing",
			snap: snap("node-a", web, rules(L2Rule{Name: "l2/nil", NodeSelectors: []labels.Selector{nil}})),
			want: []Decision{blue(dec(vip1, "", NodeNotSelected, "web"), "l2/nil")},
		},
		{
			name: "a rule without node selector opens the pool to every node",
			snap: snap("node-a", web, rackB, rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks}, L2Rule{Name: "l2/all"})),
			want: []Decision{blue(dec(vip1, w, reason(w, "node-a"), "web"), "l2/all", "l2/racks")},
		},
		{
			name: "node not Ready reported before not selected",
			snap: snap("node-a", web, rackB, tweakNode("node-a", objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse)),
				rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{blue(dec(vip1, bc, NodeNotReady, "web"), "l2/racks")},
		},
		{
			name: "Local: endpoints only on unselected nodes",
			snap: snap("node-b", services(newService("web", ingress(vip1), objects.LocalTraffic)), rackB,
				slicesOf(newSlice("web", discoveryv1.AddressTypeIPv4, endpoint("node-a"))),
				rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{withPolicyLocal(blue(dec(vip1, "", NoLocalEndpoint, "web"), "l2/racks"))},
		},
		{
			name: "Local: selected nodes with endpoints",
			snap: snap("node-b", services(newService("web", ingress(vip1), objects.LocalTraffic)), rackB,
				slicesOf(newSlice("web", discoveryv1.AddressTypeIPv4, endpoint("node-a"), endpoint("node-b"))),
				rules(L2Rule{Name: "l2/racks", NodeSelectors: onRacks})),
			want: []Decision{withPolicyLocal(blue(dec(vip1, "node-b", Announcing, "web"), "l2/racks"))},
		},
		{
			name: "interfaces passed through",
			snap: snap(w, web, rules(L2Rule{Name: "l2/all", Interfaces: []string{"eth1"}})),
			want: []Decision{ifaces(dec(vip1, w, Announcing, "web"), "eth1")},
		},
		{
			name: "interfaces of the rules selecting this node add up, sorted",
			snap: snap("node-b", web, rackB, rules(
				L2Rule{Name: "l2/b", NodeSelectors: []labels.Selector{selector(t, "rack=b")}, Interfaces: []string{"eth2", "eth0"}},
				L2Rule{Name: "l2/c", NodeSelectors: []labels.Selector{selector(t, "rack=c")}, Interfaces: []string{"eth9"}},
				L2Rule{Name: "l2/racks", NodeSelectors: onRacks, Interfaces: []string{"eth1", "eth0"}},
			)),
			want: []Decision{ifaces(blue(dec(vip1, bc, reason(bc, "node-b"), "web"), "l2/b", "l2/c", "l2/racks"), "eth0", "eth1", "eth2")},
		},
		{
			name: "a rule without interfaces means every interface",
			snap: snap(w, web, rules(L2Rule{Name: "l2/eth1", Interfaces: []string{"eth1"}}, L2Rule{Name: "l2/any"})),
			want: []Decision{blue(dec(vip1, w, Announcing, "web"), "l2/any", "l2/eth1")},
		},
	}
	runComputeCases(t, tests)
}
