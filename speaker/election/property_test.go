package election

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// consecutiveAddrs returns n consecutive addresses from start: how pools hand them out, and the
// hardest input for a weak hash.
func consecutiveAddrs(start string, n int) []netip.Addr {
	a := netip.MustParseAddr(start)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func eligibleNodes(ns []string) []Node {
	out := make([]Node, len(ns))
	for i, n := range ns {
		out[i] = node(n)
	}
	return out
}

// winners elects every address among the given nodes.
func winners(t testing.TB, ns []string, addrs []netip.Addr) map[netip.Addr]string {
	t.Helper()
	e, err := New(Config{Self: ns[0], Nodes: eligibleNodes(ns)})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[netip.Addr]string, len(addrs))
	for _, a := range addrs {
		out[a] = e.Elect(Announcement{Addr: a}).Winner
	}
	return out
}

// refElect is a plain restatement of the rules, sharing no code with Elect but fmix64: hash with
// hash/fnv, sort candidates by weight, pick the first.
func refElect(cfg Config, a Announcement) Result {
	bytes16 := a.Addr.As16()
	h := fnv.New64a()
	h.Write(bytes16[:])
	ak := h.Sum64()
	w := func(name string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(name))
		return fmix64(h.Sum64() ^ ak)
	}
	var cands []string
	var self *Node
	for i, n := range cfg.Nodes {
		if n.Name == cfg.Self {
			self = &cfg.Nodes[i]
		}
		ok := n.SpeakerAlive && n.Ineligible == 0
		if ok && (a.Policy != PolicyLocal || slices.Contains(a.LocalNodes, n.Name)) {
			cands = append(cands, n.Name)
		}
	}
	slices.SortFunc(cands, func(x, y string) int {
		if wx, wy := w(x), w(y); wx != wy {
			if wx > wy {
				return -1
			}
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	})
	res := Result{Addr: a.Addr}
	if len(cands) > 0 {
		res.Winner = cands[0]
	}
	switch {
	case cfg.NoQuorum:
		return Result{Addr: a.Addr, Reason: NoQuorum}
	case self == nil:
		res.Reason = NodeUnknown
	case !self.SpeakerAlive:
		res.Reason = SpeakerNotAlive
	case self.Ineligible != 0:
		res.Reason = self.Ineligible
	case a.Policy == PolicyLocal && !slices.Contains(a.LocalNodes, cfg.Self):
		res.Reason = NoLocalEndpoint
	case res.Winner == cfg.Self:
		res.Reason = Announcing
	default:
		res.Reason = NotElected
	}
	return res
}

// randomCase draws nodes with random facts, a random self and a random announcement.
func randomCase(r *rand.Rand) (Config, Announcement) {
	n := 1 + r.IntN(12)
	cfg := Config{NoQuorum: r.IntN(20) == 0}
	nodeReasons := []Reason{NodeNotReady, NodeToBeDeleted, NodeExcluded, NetworkUnavailable}
	for _, name := range names("n", n) {
		nd := Node{Name: name, SpeakerAlive: r.IntN(5) > 0}
		if r.IntN(3) == 0 {
			nd.Ineligible = nodeReasons[r.IntN(len(nodeReasons))]
		}
		cfg.Nodes = append(cfg.Nodes, nd)
	}
	cfg.Self = fmt.Sprintf("n-%d", r.IntN(n+1)) // sometimes not a candidate
	var a Announcement
	if r.IntN(2) == 0 {
		a.Addr = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	} else {
		a.Addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(256)), 14: byte(r.IntN(256))})
	}
	if r.IntN(2) == 0 {
		a.Policy = PolicyLocal
		for _, name := range names("n", n+2) {
			if r.IntN(3) == 0 {
				a.LocalNodes = append(a.LocalNodes, name)
			}
		}
	}
	return cfg, a
}

func TestMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		cfg, a := randomCase(r)
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.Elect(a), refElect(cfg, a); got != want {
			t.Fatalf("case %d: %+v %+v:\n got  %+v\n want %+v", i, cfg, a, got, want)
		}
	}
}

// TestOrderIndependent: every speaker lists nodes in its own informer order; the answer must not
// depend on it.
func TestOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		cfg, a := randomCase(r)
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := e.Elect(a)
		for range 5 {
			c2 := cfg
			c2.Nodes = slices.Clone(cfg.Nodes)
			r.Shuffle(len(c2.Nodes), func(i, j int) { c2.Nodes[i], c2.Nodes[j] = c2.Nodes[j], c2.Nodes[i] })
			a2 := a
			a2.LocalNodes = slices.Clone(a.LocalNodes)
			r.Shuffle(len(a2.LocalNodes), func(i, j int) { a2.LocalNodes[i], a2.LocalNodes[j] = a2.LocalNodes[j], a2.LocalNodes[i] })
			e2, err := New(c2)
			if err != nil {
				t.Fatal(err)
			}
			if got := e2.Elect(a2); got != want {
				t.Fatalf("case %d: shuffled input gives %+v, original %+v", i, got, want)
			}
		}
	}
}

// within reports whether count is within k standard deviations of a binomial(n, p) mean.
func within(count, n int, p, k float64) (ok bool, mean, sd float64) {
	mean = float64(n) * p
	sd = math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(count)-mean) <= k*sd, mean, sd
}

// TestSpread: 10k consecutive addresses spread over N nodes as a fair draw would: every node's
// share within 5 standard deviations (inputs are fixed, so this is deterministic, not flaky).
func TestSpread(t *testing.T) {
	for _, pool := range []string{"10.0.0.0", "2001:db8::"} {
		for _, n := range []int{2, 3, 10, 100} {
			t.Run(fmt.Sprintf("%s/nodes=%d", pool, n), func(t *testing.T) {
				addrs := consecutiveAddrs(pool, 10000)
				count := map[string]int{}
				for _, w := range winners(t, names("node", n), addrs) {
					count[w]++
				}
				worst := 0.0
				for _, name := range names("node", n) {
					ok, mean, sd := within(count[name], len(addrs), 1/float64(n), 5)
					if !ok {
						t.Errorf("%s announces %d addresses, want %.0f ± %.0f", name, count[name], mean, 5*sd)
					}
					worst = max(worst, math.Abs(float64(count[name])-mean)/sd)
				}
				t.Logf("largest deviation from a fair share: %.2f standard deviations", worst)
			})
		}
	}
}

// TestRemovingANodeMovesOnlyItsAddresses: rendezvous hashing's minimal disruption.
func TestRemovingANodeMovesOnlyItsAddresses(t *testing.T) {
	addrs := consecutiveAddrs("10.0.0.0", 10000)
	all := names("node", 10)
	before := winners(t, all, addrs)
	for _, gone := range []string{"node-0", "node-4", "node-9"} {
		t.Run(gone, func(t *testing.T) {
			rest := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == gone })
			after := winners(t, rest, addrs)
			moved, spreadTo := 0, map[string]int{}
			for _, a := range addrs {
				switch {
				case before[a] == gone:
					moved++
					spreadTo[after[a]]++
				case before[a] != after[a]:
					t.Fatalf("%s moved from %s to %s though %s was removed", a, before[a], after[a], gone)
				}
			}
			// The orphans spread over the 9 others like a fair draw too.
			for _, n := range rest {
				if ok, mean, sd := within(spreadTo[n], moved, 1/float64(len(rest)), 5); !ok {
					t.Errorf("%s took %d of %s's %d addresses, want %.0f ± %.0f", n, spreadTo[n], gone, moved, mean, 5*sd)
				}
			}
		})
	}
}

// TestAddingANodeMovesAFairShare: a new node takes ~1/(N+1) of the addresses, all from others,
// and no address moves between the old nodes.
func TestAddingANodeMovesAFairShare(t *testing.T) {
	addrs := consecutiveAddrs("10.0.0.0", 10000)
	for _, n := range []int{3, 10, 50} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			old := names("node", n)
			before := winners(t, old, addrs)
			after := winners(t, append(slices.Clone(old), "newcomer"), addrs)
			moved := 0
			for _, a := range addrs {
				if before[a] == after[a] {
					continue
				}
				if after[a] != "newcomer" {
					t.Fatalf("%s moved from %s to %s", a, before[a], after[a])
				}
				moved++
			}
			ok, mean, sd := within(moved, len(addrs), 1/float64(n+1), 5)
			if !ok {
				t.Errorf("%d addresses moved to the new node, want %.0f ± %.0f", moved, mean, 5*sd)
			}
			t.Logf("%d of %d addresses moved (1/(N+1) = %.0f)", moved, len(addrs), mean)
		})
	}
}

// TestIneligibleIsLikeAbsent: a node that is not eligible ranks exactly as if it were not listed,
// so a Ready flap moves only that node's addresses.
func TestIneligibleIsLikeAbsent(t *testing.T) {
	addrs := consecutiveAddrs("10.0.0.0", 2000)
	ns := eligibleNodes(names("node", 8))
	ns[3].Ineligible = NodeNotReady
	ns[5].SpeakerAlive = false
	withFlags, err := New(Config{Self: "node-0", Nodes: ns})
	if err != nil {
		t.Fatal(err)
	}
	without, err := New(Config{Self: "node-0", Nodes: slices.Concat(ns[:3], ns[4:5], ns[6:])})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if x, y := withFlags.Elect(Announcement{Addr: a}), without.Elect(Announcement{Addr: a}); x != y {
			t.Fatalf("%s: %+v with ineligible nodes listed, %+v without", a, x, y)
		}
	}
}
