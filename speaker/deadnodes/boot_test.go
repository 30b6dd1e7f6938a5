package deadnodes

import (
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// bootWorld is three speakers with known boot IDs, as liveness reports them from wire version 3.
func bootWorld() *world {
	w := newWorld("a", "b", "c")
	for i, n := range w.names {
		w.boot[n] = liveness.BootID{0: byte(i + 1), 15: 1}
	}
	return w
}

// restartSpeaker gives node n a new speaker process on the same boot.
func (w *world) restartSpeaker(n string) { w.up[n], w.inc[n] = true, w.inc[n]+100 }

// reboot brings node n back on a new boot, first heard at.
func (w *world) reboot(n string, at time.Time) {
	b := w.boot[n]
	b[15]++
	w.up[n], w.inc[n], w.boot[n], w.rebootedAt[n] = true, w.inc[n]+100, b, at
}

func onlyTransition(t *testing.T, what string, got []Transition, node string, excluded bool, reason Reason) {
	t.Helper()
	if len(got) != 1 || got[0].Node != node || got[0].Excluded != excluded || got[0].Reason != reason {
		t.Errorf("%s: transitions %+v, want one: %s excluded=%t %s", what, got, node, excluded, reason)
	}
}

// TestSpeakerRestartOnSameBoot: a speaker that crashed and stayed silent past the Timeout looks
// dead and is excluded (nothing tells it from a dead node while it is silent); back as a new
// process on the same boot, its node is taken back ReturnAfter later, at once and whole: its
// Pods ran all along, so nothing waits for readiness (before boot IDs: up to RestartHold).
func TestSpeakerRestartOnSameBoot(t *testing.T) {
	w := bootWorld()
	tr := New(Config{ReturnAfter: time.Second, RestartHold: 10 * time.Second})
	t0 := time.Unix(2000, 0)
	w.up["c"] = false
	set, changes, _ := tr.Update(w.view("a"), t0)
	if _, ok := set["c"]; !ok {
		t.Fatalf("c silent: excluded %v", set)
	}
	onlyTransition(t, "c silent", changes, "c", true, "Dead")
	w.restartSpeaker("c")
	back := t0.Add(5 * time.Second)
	if set, changes, next := tr.Update(w.view("a"), back); set["c"] != (proxy.ExcludedNode{DeadSince: w.t0}) || len(changes) != 0 || !next.Equal(back.Add(time.Second)) {
		t.Errorf("just back: %+v %+v next %v; want excluded until ReturnAfter", set, changes, next)
	}
	set, changes, next := tr.Update(w.view("a"), back.Add(time.Second))
	if len(set) != 0 || !next.IsZero() {
		t.Errorf("back ReturnAfter on the same boot: still excluded %+v (next %v)", set, next)
	}
	onlyTransition(t, "back on the same boot", changes, "c", false, "SpeakerRestarted")
}

// TestSpeakerRestartWithoutDeath: a speaker restart that its peers never see as a death (quick,
// or SIGTERM: LEAVING) excludes nothing and records nothing, before or after, on the same boot.
func TestSpeakerRestartWithoutDeath(t *testing.T) {
	w := bootWorld()
	tr := New(Config{})
	now := time.Unix(2000, 0)
	w.left["c"] = true
	if set, changes, _ := tr.Update(w.view("a"), now); len(set) != 0 || len(changes) != 0 {
		t.Errorf("c left: %+v %+v", set, changes)
	}
	w.left["c"] = false
	w.restartSpeaker("c")
	for _, d := range []time.Duration{0, 5 * time.Second, 2 * time.Minute} {
		if set, changes, _ := tr.Update(w.view("a"), now.Add(d)); len(set) != 0 || len(changes) != 0 {
			t.Errorf("c back on the same boot (+%v): %+v %+v", d, set, changes)
		}
	}
}

// TestRebootedNodeWaitsForReadiness: a node excluded at its death and back on a new boot has its
// endpoints taken back as they turn ready after its return, all of them after RestartHold.
func TestRebootedNodeWaitsForReadiness(t *testing.T) {
	w := bootWorld()
	tr := New(Config{ReturnAfter: time.Second, RestartHold: 10 * time.Second})
	t0 := time.Unix(2000, 0)
	w.up["c"] = false
	tr.Update(w.view("a"), t0)
	back := t0.Add(40 * time.Second)
	w.reboot("c", back)
	set, changes, _ := tr.Update(w.view("a"), back)
	if x := set["c"]; !x.ReturnedAt.IsZero() || len(changes) != 0 {
		t.Errorf("just back: %+v %+v; want fully excluded until ReturnAfter, no new transition", x, changes)
	}
	set, _, next := tr.Update(w.view("a"), back.Add(time.Second))
	if x := set["c"]; !x.ReturnedAt.Equal(back) || !next.Equal(back.Add(10*time.Second)) {
		t.Errorf("back 1 s on a new boot: %+v, next %v; want ReturnedAt %v", x, next, back)
	}
	set, changes, _ = tr.Update(w.view("a"), back.Add(10*time.Second))
	if len(set) != 0 {
		t.Errorf("after RestartHold: still %+v", set)
	}
	onlyTransition(t, "after RestartHold", changes, "c", false, "Rebooted")
	if set, changes, _ := tr.Update(w.view("a"), back.Add(11*time.Second)); len(set) != 0 || len(changes) != 0 {
		t.Errorf("the same reboot again: %+v %+v", set, changes)
	}
}

// TestRebootWithoutExclusion: a node that rebooted without being excluded (its speaker left on
// shutdown; or two nodes, where no death has a majority) has its endpoints held from the first
// heartbeat of the new boot: those not ready since take no new connections until they turn
// ready, or RestartHold passes. One reboot, one hold.
func TestRebootWithoutExclusion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string
		down  func(w *world)
	}{
		{"left on shutdown", []string{"a", "b", "c"}, func(w *world) { w.left["c"] = true }},
		{"two nodes: no majority", []string{"a", "c"}, func(w *world) { w.up["c"] = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.nodes...)
			w.boot["c"] = liveness.BootID{0: 3, 15: 1}
			tr := New(Config{ReturnAfter: time.Second, RestartHold: 10 * time.Second})
			t0 := time.Unix(2000, 0)
			tc.down(w)
			if set, changes, _ := tr.Update(w.view("a"), t0); len(set) != 0 || len(changes) != 0 {
				t.Fatalf("c down: %+v %+v, want nothing excluded", set, changes)
			}
			back := t0.Add(30 * time.Second)
			w.left["c"] = false
			w.reboot("c", back)
			set, changes, next := tr.Update(w.view("a"), back.Add(100*time.Millisecond))
			if x, ok := set["c"]; !ok || !x.ReturnedAt.Equal(back) || !x.DeadSince.IsZero() || !next.Equal(back.Add(10*time.Second)) {
				t.Errorf("back on a new boot: %+v next %v; want c held from %v", set, next, back)
			}
			onlyTransition(t, "back on a new boot", changes, "c", true, "Rebooted")
			set, changes, _ = tr.Update(w.view("a"), back.Add(10*time.Second))
			if len(set) != 0 {
				t.Errorf("after RestartHold: %+v", set)
			}
			onlyTransition(t, "after RestartHold", changes, "c", false, "Rebooted")
			if set, changes, _ := tr.Update(w.view("a"), back.Add(11*time.Second)); len(set) != 0 || len(changes) != 0 {
				t.Errorf("the same reboot again: %+v %+v", set, changes)
			}
		})
	}
}

// TestRebootSeenLateIsNotHeld: a reboot that this speaker learns of after RestartHold (it was
// not running, or the view came late) holds nothing.
func TestRebootSeenLateIsNotHeld(t *testing.T) {
	w := bootWorld()
	tr := New(Config{RestartHold: 10 * time.Second})
	back := time.Unix(2000, 0)
	w.reboot("c", back)
	if set, changes, _ := tr.Update(w.view("a"), back.Add(10*time.Second)); len(set) != 0 || len(changes) != 0 {
		t.Errorf("%+v %+v, want nothing", set, changes)
	}
}

// TestRebootAgainWhileHeld: a node held for readiness after a reboot that reboots again (its
// speaker left, so no new death) is held from the second reboot: the Pods that turned ready in
// between are gone too.
func TestRebootAgainWhileHeld(t *testing.T) {
	w := bootWorld()
	tr := New(Config{ReturnAfter: time.Second, RestartHold: 10 * time.Second})
	first := time.Unix(2000, 0)
	w.reboot("c", first)
	if set, _, _ := tr.Update(w.view("a"), first); !set["c"].ReturnedAt.Equal(first) {
		t.Fatalf("first reboot: %+v", set)
	}
	second := first.Add(5 * time.Second)
	w.reboot("c", second)
	set, changes, next := tr.Update(w.view("a"), second)
	if !set["c"].ReturnedAt.Equal(second) || len(changes) != 0 || !next.Equal(second.Add(10*time.Second)) {
		t.Errorf("second reboot: %+v %+v next %v; want held from %v, no new transition", set, changes, next, second)
	}
	set, changes, _ = tr.Update(w.view("a"), first.Add(10*time.Second))
	if _, ok := set["c"]; !ok || len(changes) != 0 {
		t.Errorf("RestartHold after the first reboot: %+v %+v; want still held (the second one counts)", set, changes)
	}
	set, changes, _ = tr.Update(w.view("a"), second.Add(10*time.Second))
	if len(set) != 0 {
		t.Errorf("RestartHold after the second reboot: still %+v", set)
	}
	onlyTransition(t, "after the second hold", changes, "c", false, "Rebooted")
}
