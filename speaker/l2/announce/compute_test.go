package announce

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

type computeCase struct {
	name string
	snap Snapshot
	want []Decision
}

func runComputeCases(t *testing.T, tests []computeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.snap)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			opts := cmp.Options{addrCmp, cmpopts.EquateEmpty()}
			if diff := cmp.Diff(tt.want, got.Decisions, opts); diff != "" {
				t.Errorf("Decisions (-want +got):\n%s", diff)
			}
			wantVIPs := map[netip.Addr]Announcement{}
			for _, d := range tt.want {
				if d.Reason == Announcing {
					wantVIPs[d.Addr] = Announcement{Interfaces: d.Interfaces}
				}
			}
			if diff := cmp.Diff(wantVIPs, got.VIPs, opts); diff != "" {
				t.Errorf("VIPs (-want +got):\n%s", diff)
			}
		})
	}
}

func snap(self string, tweaks ...func(*Snapshot)) Snapshot {
	s := baseSnapshot(self)
	for _, t := range tweaks {
		t(&s)
	}
	return s
}

func services(svcs ...*corev1.Service) func(*Snapshot) {
	return func(s *Snapshot) { s.Services = append(s.Services, svcs...) }
}

func slicesOf(es ...*discoveryv1.EndpointSlice) func(*Snapshot) {
	return func(s *Snapshot) { s.EndpointSlices = append(s.EndpointSlices, es...) }
}

func rules(rs ...L2Rule) func(*Snapshot) { return func(s *Snapshot) { s.Rules = rs } }

// tweakNode applies node tweaks to the named node of the snapshot.
func tweakNode(name string, tweaks ...func(*corev1.Node)) func(*Snapshot) {
	return func(s *Snapshot) {
		for _, n := range s.Nodes {
			if n.Name == name {
				for _, t := range tweaks {
					t(n)
				}
			}
		}
	}
}

// dec is a Decision on vip with the blue pool, advertised by l2/all.
func dec(addr netip.Addr, winner string, r Reason, svcs ...string) Decision {
	d := Decision{Addr: addr, Pool: "blue", Rules: []string{"l2/all"}, Winner: winner, Reason: r}
	for _, s := range svcs {
		d.Services = append(d.Services, nn(s))
	}
	return d
}

func withPolicyLocal(d Decision) Decision { d.Policy = election.PolicyLocal; return d }

func TestComputeServiceSelection(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	w := top(t, vip1, all...)
	loser := other(w, all...)
	tests := []computeCase{
		{
			name: "this node wins",
			snap: snap(w, services(newService("web", ingress(vip1)))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "another node wins",
			snap: snap(loser, services(newService("web", ingress(vip1)))),
			want: []Decision{dec(vip1, w, NotElected, "web")},
		},
		{
			name: "not a LoadBalancer",
			snap: snap(w, services(newService("web", ingress(vip1), objects.WithType(corev1.ServiceTypeNodePort)))),
		},
		{
			name: "no ingress yet",
			snap: snap(w, services(newService("web"))),
		},
		{
			name: "hostname and bad IP ingress ignored",
			snap: snap(w, services(newService("web",
				objects.WithIngress(corev1.LoadBalancerIngress{Hostname: "lb.example.com"}),
				objects.WithIngress(corev1.LoadBalancerIngress{IP: "192.0.2.300"}),
				objects.WithIngress(corev1.LoadBalancerIngress{IP: "fe80::1%eth0"})))),
		},
		{
			name: "IPv4-mapped ingress is the IPv4 address",
			snap: snap(w, services(newService("web", objects.WithIngress(corev1.LoadBalancerIngress{IP: "::ffff:192.0.2.1"})))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "default class served",
			snap: snap(w, services(newService("web", ingress(vip1), objects.WithClass(DefaultClass)))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "other class ignored",
			snap: snap(w, services(newService("web", ingress(vip1), objects.WithClass("example.com/other")))),
		},
		{
			name: "configured classes replace the default",
			snap: snap(w, services(
				newService("mine", ingress(vip1), objects.WithClass("example.com/mine")),
				newService("default", ingress(vip2), objects.WithClass(DefaultClass)),
			), func(s *Snapshot) { s.Classes = []string{"example.com/mine"} }),
			want: []Decision{dec(vip1, w, Announcing, "mine")},
		},
		{
			name: "empty classes: only unset class",
			snap: snap(w, services(
				newService("unset", ingress(vip1)),
				newService("default", ingress(vip2), objects.WithClass(DefaultClass)),
			), func(s *Snapshot) { s.Classes = []string{} }),
			want: []Decision{dec(vip1, w, Announcing, "unset")},
		},
		{
			name: "address in no pool",
			snap: snap(w, services(newService("web", ingress(stray)))),
			want: []Decision{{Addr: stray, Services: []types.NamespacedName{nn("web")}, Reason: NoPool}},
		},
		{
			name: "nil objects are skipped",
			snap: snap(w, services(nil, newService("web", ingress(vip1))), slicesOf(nil),
				func(s *Snapshot) { s.Nodes = append(s.Nodes, nil) }),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
	}
	runComputeCases(t, tests)
}

func TestComputeNodeEligibility(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	w := top(t, vip1, all...)
	rest := []string{}
	for _, n := range all {
		if n != w {
			rest = append(rest, n)
		}
	}
	next := top(t, vip1, rest...) // the winner once w is out
	web := services(newService("web", ingress(vip1)))
	tests := []computeCase{
		{
			name: "not Ready",
			snap: snap(w, web, tweakNode(w, objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse))),
			want: []Decision{dec(vip1, next, NodeNotReady, "web")},
		},
		{
			name: "Ready Unknown",
			snap: snap(w, web, tweakNode(w, objects.WithCondition(corev1.NodeReady, corev1.ConditionUnknown))),
			want: []Decision{dec(vip1, next, NodeNotReady, "web")},
		},
		{
			name: "excluded by label",
			snap: snap(w, web, tweakNode(w, objects.WithLabel(corev1.LabelNodeExcludeBalancers, ""))),
			want: []Decision{dec(vip1, next, NodeExcluded, "web")},
		},
		{
			// As the service controller and cloud-provider read it (docs/design/eligibility.md).
			name: "exclude label false keeps the node",
			snap: snap(w, web, tweakNode(w, objects.WithLabel(corev1.LabelNodeExcludeBalancers, "false"))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "being deleted",
			snap: snap(w, web, tweakNode(w, objects.WithDeletionTimestamp(metav1.Time{}))),
			want: []Decision{dec(vip1, next, NodeToBeDeleted, "web")},
		},
		{
			name: "a cordon does not matter",
			snap: snap(w, web, tweakNode(w, objects.Unschedulable)),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "NetworkUnavailable",
			snap: snap(w, web, tweakNode(w, objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue))),
			want: []Decision{dec(vip1, next, NetworkUnavailable, "web")},
		},
		{
			name: "being removed by the autoscaler",
			snap: snap(w, web, tweakNode(w, objects.WithTaint(served.TaintToBeDeleted))),
			want: []Decision{dec(vip1, next, NodeToBeDeleted, "web")},
		},
		{
			name: "other taints do not matter",
			snap: snap(w, web, tweakNode(w, objects.WithTaint("node.kubernetes.io/unschedulable"))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
		{
			name: "speaker not alive",
			snap: snap(w, web, func(s *Snapshot) { s.Alive[w] = false }),
			want: []Decision{dec(vip1, next, SpeakerNotAlive, "web")},
		},
		{
			name: "the winner's speaker is dead: next one takes over",
			snap: snap(next, web, func(s *Snapshot) { delete(s.Alive, w) }),
			want: []Decision{dec(vip1, next, Announcing, "web")},
		},
		{
			name: "no quorum",
			snap: snap(w, web, func(s *Snapshot) { s.NoQuorum = true }),
			want: []Decision{dec(vip1, "", NoQuorum, "web")},
		},
		{
			name: "own Node not known yet",
			snap: snap("node-z", web),
			want: []Decision{dec(vip1, w, NodeUnknown, "web")},
		},
		{
			name: "no node eligible",
			snap: snap(w, web, func(s *Snapshot) { s.Alive = nil }),
			want: []Decision{dec(vip1, "", SpeakerNotAlive, "web")},
		},
	}
	runComputeCases(t, tests)
}

func TestComputeErrors(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want error
	}{
		{name: "empty self", snap: snap(""), want: election.ErrEmptyName},
		{name: "duplicate node", snap: snap("node-a", func(s *Snapshot) { s.Nodes = append(s.Nodes, newNode("node-b")) }),
			want: &election.DuplicateNodeError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.snap)
			var dup *election.DuplicateNodeError
			switch {
			case err == nil:
				t.Fatal("Compute succeeded, want an error")
			case errors.As(tt.want, &dup):
				if !errors.As(err, &dup) || dup.Name != "node-b" {
					t.Errorf("err = %v, want a DuplicateNodeError for node-b", err)
				}
			case !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestElectionReasons: every reason package served gives for a node has the election's reason of
// the same name, so that no node is let in by a missing mapping and users see one token.
func TestElectionReasons(t *testing.T) {
	if got := electionReason(""); got != 0 {
		t.Errorf(`electionReason("") = %v, want 0`, got)
	}
	for _, r := range served.NodeReasons() {
		got := electionReason(r)
		if got.String() != string(r) {
			t.Errorf("electionReason(%s) = %v, want the election's reason of that name", r, got)
		}
		if Reason(got.String()) != fromElection(got) {
			t.Errorf("%s: announce reason %s", r, fromElection(got))
		}
	}
}
