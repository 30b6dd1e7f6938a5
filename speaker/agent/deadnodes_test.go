package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/deadnodes"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

type viewMembership struct {
	mu sync.Mutex
	v  liveness.View
	c  chan struct{}
}

func (f *viewMembership) View() liveness.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v
}

func (f *viewMembership) Subscribe() <-chan struct{} { return f.c }

func (f *viewMembership) set(v liveness.View) {
	f.mu.Lock()
	f.v = v
	f.mu.Unlock()
	f.c <- struct{}{}
}

type fakeSetter struct {
	mu   sync.Mutex
	sets []map[string]proxy.ExcludedNode
}

func (f *fakeSetter) SetExcludedNodes(m map[string]proxy.ExcludedNode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, m)
}

func (f *fakeSetter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sets)
}

func (f *fakeSetter) last() map[string]proxy.ExcludedNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sets) == 0 {
		return nil
	}
	return f.sets[len(f.sets)-1]
}

// view3 is node-a's view of node-a, node-b and node-c with node-c dead (reported by node-b too)
// or all alive.
func view3(self string, cDead bool) liveness.View {
	v := liveness.View{Self: self, SelfAlive: true, Peers: map[string]liveness.PeerState{}}
	for i, n := range []string{"node-a", "node-b", "node-c"} {
		if n == self {
			continue
		}
		st := liveness.PeerState{Alive: true, Incarnation: uint64(i + 1)}
		if n == "node-c" && cDead {
			st = liveness.PeerState{Dead: true, DeadSince: time.Now(), Incarnation: 3}
		} else if cDead {
			st.Reports = []string{"node-c"}
		}
		v.Peers[n] = st
	}
	return v
}

// TestRunDeadNodes: a death agreed by a majority reaches the proxy at once, with one Event on
// the Node from the first speaker by name (node-a here, not node-b), and the return after
// ReturnAfter, woken by the tracker's timer without another membership change. It runs in a
// synctest bubble: "at once" is checked with no fake time passing, and "not taken back before
// ReturnAfter" once the loop is provably idle just before it, not after a sleep.
func TestRunDeadNodes(t *testing.T) {
	for _, self := range []string{"node-a", "node-b"} {
		t.Run(self, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testRunDeadNodes(t, self) }) })
	}
}

// goRunDeadNodes runs runDeadNodes until the test ends (its cleanup stops the loop and waits).
func goRunDeadNodes(t *testing.T, mem membershipView, ps excludedNodesSetter, rec record.EventRecorder, cfg deadnodes.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runDeadNodes(ctx, mem, ps, rec, cfg, klog.Background())
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func testRunDeadNodes(t *testing.T, self string) {
	const returnAfter = 300 * time.Millisecond
	mem := &viewMembership{v: view3(self, false), c: make(chan struct{}, 1)}
	ps := &fakeSetter{}
	rec := record.NewFakeRecorder(10)
	goRunDeadNodes(t, mem, ps, rec, deadnodes.Config{ReturnAfter: returnAfter})
	mem.set(view3(self, true))
	synctest.Wait()
	if _, ok := ps.last()["node-c"]; !ok {
		t.Fatalf("node-c not excluded at once: %v", ps.last())
	}
	mem.set(view3(self, false))
	back := time.Now()
	time.Sleep(returnAfter - time.Millisecond)
	synctest.Wait()
	if _, ok := ps.last()["node-c"]; !ok {
		t.Fatalf("node-c already taken back %v after it returned, before ReturnAfter (%v)", time.Since(back), returnAfter)
	}
	time.Sleep(time.Millisecond)
	synctest.Wait()
	if n := len(ps.last()); n != 0 || ps.count() <= 2 {
		t.Fatalf("node-c not taken back ReturnAfter (%v) after it returned: %d sets, last %v", returnAfter, ps.count(), ps.last())
	}
	var events []string
	for len(rec.Events) > 0 {
		events = append(events, <-rec.Events)
	}
	if self == "node-b" {
		if len(events) != 0 {
			t.Errorf("node-b recorded %v; node-a (first by name) records them", events)
		}
		return
	}
	if len(events) != 2 || !strings.Contains(events[0], ReasonDeadNodeExcluded) || !strings.Contains(events[0], "2 of 3") ||
		!strings.Contains(events[1], ReasonDeadNodeReturned) {
		t.Errorf("events %q, want DeadNodeExcluded (2 of 3) then DeadNodeReturned", events)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
