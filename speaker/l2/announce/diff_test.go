package announce

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

func TestDiff(t *testing.T) {
	plan := func(ds ...Decision) Plan { return Plan{Decisions: ds} }
	d := func(addr netip.Addr, winner string) Decision { return Decision{Addr: addr, Winner: winner} }
	tests := []struct {
		name       string
		prev, next Plan
		want       []Change
	}{
		{name: "both empty"},
		{name: "unchanged", prev: plan(d(vip1, "node-a"), d(vip2, "")), next: plan(d(vip1, "node-a"), d(vip2, ""))},
		{
			name: "winner moved",
			prev: plan(d(vip1, "node-a"), d(vip2, "node-b")),
			next: plan(d(vip1, "node-a"), d(vip2, "node-c")),
			want: []Change{{Addr: vip2, From: "node-b", To: "node-c"}},
		},
		{
			name: "appeared and disappeared",
			prev: plan(d(vip1, "node-a"), d(vip6, "")),
			next: plan(d(vip2, "node-b")),
			want: []Change{{Addr: vip1, From: "node-a"}, {Addr: vip2, To: "node-b"}},
		},
		{
			name: "lost its last eligible node",
			prev: plan(d(green1, "node-a")),
			next: plan(d(green1, "")),
			want: []Change{{Addr: green1, From: "node-a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Diff(tt.prev, tt.next), addrCmp); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffAfterNodeLoss: from Compute to Compute, losing a node moves exactly its addresses.
func TestDiffAfterNodeLoss(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	s := snap("node-a", services(newService("one", ingress(vip1)), newService("two", ingress(vip2)), newService("six", ingress(vip6))))
	prev, err := Compute(s)
	if err != nil {
		t.Fatal(err)
	}
	lost := prev.Decisions[0].Winner
	s.Alive[lost] = false
	next, err := Compute(s)
	if err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == lost })
	var want []Change
	for _, d := range prev.Decisions {
		if d.Winner == lost {
			want = append(want, Change{Addr: d.Addr, From: lost, To: top(t, d.Addr, rest...)})
		}
	}
	if diff := cmp.Diff(want, Diff(prev, next), addrCmp); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}

func TestReasonsCoverElection(t *testing.T) {
	ours := Reasons()
	for _, r := range election.Reasons() {
		if !slices.Contains(ours, fromElection(r)) {
			t.Errorf("election reason %s has no announce.Reason constant", r)
		}
	}
	if len(ours) != len(election.Reasons())+3 {
		t.Errorf("Reasons() has %d entries, want the election's %d plus NoPool, NotAdvertised, NodeNotSelected", len(ours), len(election.Reasons()))
	}
}

func TestMessage(t *testing.T) {
	for _, r := range Reasons() {
		d := Decision{Addr: vip1, Pool: "blue", Winner: "node-b", Reason: r}
		if m := d.Message(); m == "" {
			t.Errorf("%s: empty message", r)
		}
	}
	d := Decision{Addr: vip1, Pool: "blue", Winner: "node-b", Reason: NodeNotSelected}
	want := `node node-b announces 192.0.2.1; this node does not because no L2Advertisement of pool "blue" selects it`
	if got := d.Message(); got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

func TestPlanDecision(t *testing.T) {
	p, err := Compute(snap("node-a", services(newService("one", ingress(vip1)), newService("six", ingress(vip6)))))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := p.Decision(vip6); !ok || d.Addr != vip6 {
		t.Errorf("Decision(%s) = %v, %v", vip6, d, ok)
	}
	if _, ok := p.Decision(vip2); ok {
		t.Errorf("Decision(%s) found an address no Service holds", vip2)
	}
}
