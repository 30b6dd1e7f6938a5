package deadnodes

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// world is a fake membership: which speakers are up, which can hear each other, and each one's
// incarnation. view builds what one speaker's liveness would report: a peer is Alive if it is up
// and reachable, Dead if it was heard once and no longer is, and an alive peer reports as dead
// every speaker it was heard by... that it no longer reaches (its own Dead list).
type world struct {
	names []string
	up    map[string]bool
	inc   map[string]uint64
	cut   map[[2]string]bool // unordered pairs that cannot hear each other
	left  map[string]bool
	t0    time.Time
	// boot and rebootedAt are what each speaker's liveness reports of the node's boot (zero:
	// unknown, as the world starts).
	boot       map[string]liveness.BootID
	rebootedAt map[string]time.Time
}

func newWorld(names ...string) *world {
	w := &world{names: names, up: map[string]bool{}, inc: map[string]uint64{}, cut: map[[2]string]bool{},
		left: map[string]bool{}, t0: time.Unix(1000, 0), boot: map[string]liveness.BootID{}, rebootedAt: map[string]time.Time{}}
	for i, n := range names {
		w.up[n], w.inc[n] = true, uint64(i+1)
	}
	return w
}

func (w *world) reach(a, b string) bool {
	return w.up[a] && w.up[b] && !w.cut[[2]string{a, b}] && !w.cut[[2]string{b, a}]
}

// isolate cuts every link between the two groups.
func (w *world) isolate(a, b []string) {
	for _, x := range a {
		for _, y := range b {
			w.cut[[2]string{x, y}] = true
		}
	}
}

func (w *world) heal() { w.cut = map[[2]string]bool{} }

func (w *world) deadList(self string) []string {
	var out []string
	for _, n := range w.names {
		if n != self && !w.left[n] && !w.reach(self, n) {
			out = append(out, n)
		}
	}
	return out
}

func (w *world) view(self string) liveness.View {
	v := liveness.View{Self: self, SelfAlive: w.up[self] && !w.left[self], Peers: map[string]liveness.PeerState{}}
	for _, n := range w.names {
		if n == self {
			continue
		}
		st := liveness.PeerState{Incarnation: w.inc[n], Left: w.left[n], BootID: w.boot[n], RebootedAt: w.rebootedAt[n]}
		if w.reach(self, n) && !w.left[n] {
			st.Alive, st.Reports = true, w.deadList(n)
		} else if !w.left[n] {
			st.Dead, st.DeadSince = true, w.t0
		}
		v.Peers[n] = st
	}
	return v
}

func excludedBy(t *testing.T, tr *Tracker, v liveness.View, now time.Time) []string {
	t.Helper()
	set, _, _ := tr.Update(v, now)
	return slices.Sorted(maps.Keys(set))
}

func TestPartitionShapes(t *testing.T) {
	now := time.Unix(2000, 0)
	for _, tc := range []struct {
		name  string
		nodes []string
		setup func(w *world)
		want  map[string][]string // viewer → excluded
	}{
		{"one node dies", []string{"a", "b", "c"}, func(w *world) { w.up["c"] = false },
			map[string][]string{"a": {"c"}, "b": {"c"}}},
		{"node isolated: the others exclude it, it excludes no one", []string{"a", "b", "c"},
			func(w *world) { w.isolate([]string{"c"}, []string{"a", "b"}) },
			map[string][]string{"a": {"c"}, "b": {"c"}, "c": nil}},
		{"3|2 split: only the majority excludes", []string{"a", "b", "c", "d", "e"},
			func(w *world) { w.isolate([]string{"a", "b", "c"}, []string{"d", "e"}) },
			map[string][]string{"a": {"d", "e"}, "c": {"d", "e"}, "d": nil, "e": nil}},
		{"2|2 split: no majority, no one excluded", []string{"a", "b", "c", "d"},
			func(w *world) { w.isolate([]string{"a", "b"}, []string{"c", "d"}) },
			map[string][]string{"a": nil, "c": nil}},
		{"lost quorum: 3 of 5 die at once", []string{"a", "b", "c", "d", "e"},
			func(w *world) { w.up["c"], w.up["d"], w.up["e"] = false, false, false },
			map[string][]string{"a": nil, "b": nil}},
		{"two nodes: one cannot tell a death from a partition", []string{"a", "b"}, func(w *world) { w.up["b"] = false },
			map[string][]string{"a": nil}},
		{"a speaker that left is not dead", []string{"a", "b", "c"}, func(w *world) { w.left["c"] = true },
			map[string][]string{"a": nil, "b": nil}},
		{"only one link cut: no one else agrees", []string{"a", "b", "c"}, func(w *world) { w.isolate([]string{"a"}, []string{"b"}) },
			map[string][]string{"a": nil, "b": nil, "c": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.nodes...)
			tc.setup(w)
			for viewer, want := range tc.want {
				if got := excludedBy(t, New(Config{}), w.view(viewer), now); !slices.Equal(got, want) {
					t.Errorf("%s excludes %v, want %v", viewer, got, want)
				}
			}
		})
	}
}

// TestNeverHeardNodeIsNotASpeaker: a Node without a speaker (never heard) is neither excluded
// nor counted: three speakers among five Nodes still agree on one death.
func TestNeverHeardNodeIsNotASpeaker(t *testing.T) {
	w := newWorld("a", "b", "c")
	w.up["c"] = false
	v := w.view("a")
	for _, n := range []string{"x", "y"} {
		v.Peers[n] = liveness.PeerState{} // in the peer set, never heard: no incarnation
	}
	if got := excludedBy(t, New(Config{}), v, time.Unix(2000, 0)); !slices.Equal(got, []string{"c"}) {
		t.Errorf("excluded %v, want [c]", got)
	}
}

// TestFlappingLinkKeepsTheNodeOut: a link down and up every 2 s keeps the node excluded the
// whole time (ReturnAfter 3 s), including the heartbeat where this speaker sees it dead again
// before the others' reports say so, and it is taken back ReturnAfter after the link settles.
func TestFlappingLinkKeepsTheNodeOut(t *testing.T) {
	w := newWorld("a", "b", "c")
	tr := New(Config{})
	now := time.Unix(2000, 0)
	step := func(d time.Duration, v liveness.View) []string {
		now = now.Add(d)
		return excludedBy(t, tr, v, now)
	}
	w.isolate([]string{"c"}, []string{"a", "b"})
	if got := step(0, w.view("a")); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("c cut off: a excludes %v", got)
	}
	for range 5 {
		w.heal()
		step(200*time.Millisecond, w.view("a")) // a Changes notification as c is heard again
		if got := step(1800*time.Millisecond, w.view("a")); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("link up for 2 s: a excludes %v, want [c] until it has held 3 s", got)
		}
		w.isolate([]string{"c"}, []string{"a", "b"})
		// a sees c dead; b's heartbeat still reports it alive.
		v := w.view("a")
		bv := v.Peers["b"]
		bv.Reports = nil
		v.Peers["b"] = bv
		if got := step(800*time.Millisecond, v); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("down again, b not reporting it yet: a excludes %v", got)
		}
		if got := step(1200*time.Millisecond, w.view("a")); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("down again: a excludes %v", got)
		}
	}
	w.heal()
	step(0, w.view("a"))
	if got := step(2900*time.Millisecond, w.view("a")); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("settled 2.9 s: a excludes %v", got)
	}
	set, changes, _ := tr.Update(w.view("a"), now.Add(200*time.Millisecond))
	if len(set) != 0 || len(changes) != 1 || changes[0].Reason != "Returned" {
		t.Errorf("settled 3.1 s: excluded %v, transitions %+v; want none and one Returned", set, changes)
	}
}

// TestLostQuorumTakesBack: a node excluded while a majority agreed is taken back when this
// speaker loses its majority (more nodes died, or it is the one cut off): without strong
// evidence the proxy follows Kubernetes.
func TestLostQuorumTakesBack(t *testing.T) {
	w := newWorld("a", "b", "c", "d", "e")
	tr := New(Config{})
	w.up["e"] = false
	now := time.Unix(2000, 0)
	if got := excludedBy(t, tr, w.view("a"), now); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("e dead: a excludes %v", got)
	}
	w.up["c"], w.up["d"] = false, false
	set, changes, _ := tr.Update(w.view("a"), now.Add(time.Second))
	if len(set) != 0 {
		t.Errorf("a sees 2 of 5 alive: still excludes %v", set)
	}
	if len(changes) != 1 || changes[0].Node != "e" || changes[0].Reason != "NoAgreement" {
		t.Errorf("transitions %+v, want e NoAgreement", changes)
	}
}

// TestRestartedNodeWaitsForReadiness: a node back as a new speaker process (a reboot) is handed
// to the proxy with ReturnedAt, so that its endpoints come back only as Kubernetes reports them
// ready; RestartHold later it is dropped altogether.
func TestRestartedNodeWaitsForReadiness(t *testing.T) {
	w := newWorld("a", "b", "c")
	tr := New(Config{ReturnAfter: time.Second, RestartHold: 10 * time.Second})
	w.up["c"] = false
	t0 := time.Unix(2000, 0)
	set, changes, _ := tr.Update(w.view("a"), t0)
	if _, ok := set["c"]; !ok || len(changes) != 1 || !changes[0].Excluded || changes[0].Agreeing != 2 || changes[0].Speakers != 3 {
		t.Fatalf("c dead: %v %+v", set, changes)
	}
	w.up["c"], w.inc["c"] = true, 99
	back := t0.Add(30 * time.Second)
	set, _, next := tr.Update(w.view("a"), back)
	if x := set["c"]; !x.ReturnedAt.IsZero() || !next.Equal(back.Add(time.Second)) {
		t.Errorf("just back: %+v, next %v; want fully excluded until ReturnAfter", x, next)
	}
	set, _, next = tr.Update(w.view("a"), back.Add(time.Second))
	if x := set["c"]; !x.ReturnedAt.Equal(back) || !next.Equal(back.Add(10*time.Second)) {
		t.Errorf("back 1 s, new incarnation: %+v, next %v; want ReturnedAt %v", x, next, back)
	}
	set, changes, _ = tr.Update(w.view("a"), back.Add(10*time.Second))
	if len(set) != 0 || len(changes) != 1 || changes[0].Reason != "Restarted" {
		t.Errorf("after RestartHold: %v %+v", set, changes)
	}
}
