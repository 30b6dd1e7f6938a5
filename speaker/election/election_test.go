package election

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Address plan: 192.0.2.0/24 and 2001:db8::/32 (documentation ranges).
var (
	vip4 = netip.MustParseAddr("192.0.2.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
)

// node returns an eligible node; tweaks make it otherwise.
func node(name string, tweaks ...func(*Node)) Node {
	n := Node{Name: name, SpeakerAlive: true}
	for _, t := range tweaks {
		t(&n)
	}
	return n
}

func notReady(n *Node)           { n.Ineligible = NodeNotReady }
func excluded(n *Node)           { n.Ineligible = NodeExcluded }
func networkUnavailable(n *Node) { n.Ineligible = NetworkUnavailable }
func toBeDeleted(n *Node)        { n.Ineligible = NodeToBeDeleted }
func speakerDead(n *Node)        { n.SpeakerAlive = false }

func TestElectReasons(t *testing.T) {
	// For vip4, node-a outranks node-b and for vip6 the reverse; TestGolden pins the hash.
	tests := []struct {
		name     string
		cfg      Config
		ann      Announcement
		want     Result
		wantText string
	}{
		{
			name: "only eligible node announces",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b", notReady)}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-a", Reason: Announcing},
		},
		{
			name:     "eligible but ranked lower",
			cfg:      Config{Self: "node-b", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:      Announcement{Addr: vip4},
			want:     Result{Addr: vip4, Winner: "node-a", Reason: NotElected},
			wantText: "node node-a announces 192.0.2.10; this node is eligible but ranks lower",
		},
		{
			name:     "not ready",
			cfg:      Config{Self: "node-a", Nodes: []Node{node("node-a", notReady), node("node-b")}},
			ann:      Announcement{Addr: vip4},
			want:     Result{Addr: vip4, Winner: "node-b", Reason: NodeNotReady},
			wantText: "node node-b announces 192.0.2.10; this node does not because the Node is not Ready",
		},
		{
			name: "excluded by label",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a", excluded), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-b", Reason: NodeExcluded},
		},
		{
			name: "network unavailable",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a", networkUnavailable), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-b", Reason: NetworkUnavailable},
		},
		{
			name: "to be deleted by the autoscaler",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a", toBeDeleted), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-b", Reason: NodeToBeDeleted},
		},
		{
			name: "speaker not alive",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a", speakerDead), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-b", Reason: SpeakerNotAlive},
		},
		{
			name: "a dead peer is skipped",
			cfg:  Config{Self: "node-b", Nodes: []Node{node("node-a", speakerDead), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-b", Reason: Announcing},
		},
		{
			name:     "first failing check is reported",
			cfg:      Config{Self: "node-a", Nodes: []Node{node("node-a", notReady, speakerDead)}},
			ann:      Announcement{Addr: vip4},
			want:     Result{Addr: vip4, Reason: SpeakerNotAlive},
			wantText: "no node is eligible to announce 192.0.2.10; on this node this node's speaker is not a live member",
		},
		{
			name: "self not among the nodes",
			cfg:  Config{Self: "node-c", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:  Announcement{Addr: vip4},
			want: Result{Addr: vip4, Winner: "node-a", Reason: NodeUnknown},
		},
		{
			name:     "no quorum: announce nothing, winner unknown",
			cfg:      Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b", speakerDead)}, NoQuorum: true},
			ann:      Announcement{Addr: vip4},
			want:     Result{Addr: vip4, Reason: NoQuorum},
			wantText: "this node does not announce 192.0.2.10: this node's speaker does not see a majority of speakers",
		},
		{
			name: "invalid address",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a")}},
			ann:  Announcement{},
			want: Result{Reason: InvalidAddress},
		},
		{
			name: "local: the best node without an endpoint is passed over",
			cfg:  Config{Self: "node-b", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:  Announcement{Addr: vip4, Policy: PolicyLocal, LocalNodes: []string{"node-b"}},
			want: Result{Addr: vip4, Winner: "node-b", Reason: Announcing},
		},
		{
			name:     "local: this node has no endpoint",
			cfg:      Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:      Announcement{Addr: vip4, Policy: PolicyLocal, LocalNodes: []string{"node-b", "node-x"}},
			want:     Result{Addr: vip4, Winner: "node-b", Reason: NoLocalEndpoint},
			wantText: "node node-b announces 192.0.2.10; this node does not because externalTrafficPolicy is Local and this node has no ready endpoint",
		},
		{
			name: "local: endpoints only on ineligible nodes",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b", notReady)}},
			ann:  Announcement{Addr: vip4, Policy: PolicyLocal, LocalNodes: []string{"node-b"}},
			want: Result{Addr: vip4, Reason: NoLocalEndpoint},
		},
		{
			name: "local: node facts come before endpoints",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a", excluded), node("node-b")}},
			ann:  Announcement{Addr: vip4, Policy: PolicyLocal},
			want: Result{Addr: vip4, Reason: NodeExcluded},
		},
		{
			name: "local: duplicates in LocalNodes change nothing",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:  Announcement{Addr: vip4, Policy: PolicyLocal, LocalNodes: []string{"node-b", "node-a", "node-b", "node-a"}},
			want: Result{Addr: vip4, Winner: "node-a", Reason: Announcing},
		},
		{
			name: "LocalNodes ignored under Cluster",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:  Announcement{Addr: vip4, LocalNodes: []string{"node-b"}},
			want: Result{Addr: vip4, Winner: "node-a", Reason: Announcing},
		},
		{
			name: "IPv6",
			cfg:  Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b")}},
			ann:  Announcement{Addr: vip6},
			want: Result{Addr: vip6, Winner: "node-b", Reason: NotElected},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := e.Elect(tc.ann)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Elect (-want +got):\n%s", diff)
			}
			if got.Announce() != (tc.want.Reason == Announcing) {
				t.Errorf("Announce() = %v with reason %v", got.Announce(), got.Reason)
			}
			if tc.wantText != "" && got.Message() != tc.wantText {
				t.Errorf("Message() = %q, want %q", got.Message(), tc.wantText)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantIs  error
		wantDup string
	}{
		{name: "no self", cfg: Config{Nodes: []Node{node("node-a")}}, wantIs: ErrEmptyName},
		{name: "unnamed node", cfg: Config{Self: "node-a", Nodes: []Node{node("node-a"), node("")}}, wantIs: ErrEmptyName},
		{name: "duplicate", cfg: Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b"), node("node-a", notReady)}}, wantDup: "node-a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v, want %v", err, tc.wantIs)
			}
			var dup *DuplicateNodeError
			if tc.wantDup != "" && (!errors.As(err, &dup) || dup.Name != tc.wantDup) {
				t.Errorf("error %v, want a DuplicateNodeError for %q", err, tc.wantDup)
			}
		})
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]Reason{}
	for _, r := range Reasons() {
		s := r.String()
		if s == "" || s[0] < 'A' || s[0] > 'Z' {
			t.Errorf("Reason(%d).String() = %q, want a CamelCase token", r, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("reasons %d and %d share the string %q", prev, r, s)
		}
		seen[s] = r
		msg := Result{Addr: vip4, Winner: "node-b", Reason: r}.Message()
		if msg == "" {
			t.Errorf("empty message for %v", r)
		}
	}
	if got, want := len(seen), int(numReasons)-1; got != want {
		t.Errorf("%d reasons listed, want %d", got, want)
	}
	if got := Reason(200).String(); got != "Reason(200)" {
		t.Errorf("unknown reason prints %q", got)
	}
}

// TestElectDoesNotAllocate: a speaker elects every address after each membership change.
func TestElectDoesNotAllocate(t *testing.T) {
	e, err := New(Config{Self: "node-a", Nodes: []Node{node("node-a"), node("node-b"), node("node-c")}})
	if err != nil {
		t.Fatal(err)
	}
	local := Announcement{Addr: vip4, Policy: PolicyLocal, LocalNodes: []string{"node-b", "node-c"}}
	cluster := Announcement{Addr: vip6}
	if n := testing.AllocsPerRun(100, func() { e.Elect(local); e.Elect(cluster) }); n != 0 {
		t.Errorf("Elect allocates %.0f times per call pair, want 0", n)
	}
}
