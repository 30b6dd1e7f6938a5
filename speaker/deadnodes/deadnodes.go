// Package deadnodes decides, from a speaker's liveness membership, which nodes the node proxy
// treats as dead: their endpoints take no new connections (proxy.SetExcludedNodes) within about
// a second of the death, instead of the ~50 s Kubernetes needs to mark them not ready.
//
// The rule (docs/design/dead-nodes.md has the partition shapes): a node starts being excluded
// when this speaker sees it dead (heard, then silent for the liveness Timeout; not left, not
// never heard) and more than half of the speakers, each alive in this speaker's view (itself
// included), report it dead in their heartbeats. It stays excluded while this speaker still sees
// it dead and still sees a majority alive; it is taken back once it has been alive ReturnAfter
// without a break (a flapping link keeps it out), and when it came back as a new speaker process
// (a restart, perhaps a reboot) its endpoints come back one by one as Kubernetes reports them
// ready again, or all of them after RestartHold. Everything else (this speaker losing its
// majority, the node's speaker leaving, the node removed) takes it back at once: without strong
// evidence the proxy follows Kubernetes.
package deadnodes

import (
	"maps"
	"slices"
	"time"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Defaults of Config.
const (
	DefaultReturnAfter = 3 * time.Second
	DefaultRestartHold = time.Minute
)

// Config tunes the Tracker; zero fields take the defaults.
type Config struct {
	// ReturnAfter is how long a dead node must be alive again, without a break, before it is
	// taken back: a link flapping every 2 s keeps it out rather than in and out.
	ReturnAfter time.Duration
	// RestartHold bounds how long the endpoints of a node back with a new speaker process wait for
	// Kubernetes to report them ready again (a speaker restart alone leaves them ready all along).
	RestartHold time.Duration
}

// Agreement is what this speaker's view says about one dead peer.
type Agreement struct {
	DeadSince time.Time
	// Agreeing speakers (this one included) and Speakers in all: agreed when 2×Agreeing > Speakers.
	Agreeing, Speakers int
}

// Agreed returns the peers this speaker sees dead, with how many speakers agree, and which of
// them a majority agrees on. Speakers are this one and every peer heard during its life (a Node
// without a speaker, never heard, neither votes nor counts).
func Agreed(v liveness.View) (all map[string]Agreement, agreed map[string]bool) {
	all, agreed = map[string]Agreement{}, map[string]bool{}
	if !v.SelfAlive {
		return all, agreed
	}
	speakers := speakerCount(v)
	for name, p := range v.Peers {
		if !p.Dead {
			continue
		}
		a := Agreement{DeadSince: p.DeadSince, Agreeing: 1, Speakers: speakers}
		for other, q := range v.Peers {
			if other != name && q.Alive && slices.Contains(q.Reports, name) {
				a.Agreeing++
			}
		}
		all[name] = a
		if 2*a.Agreeing > speakers {
			agreed[name] = true
		}
	}
	return all, agreed
}

func speakerCount(v liveness.View) int {
	n := 1
	for _, p := range v.Peers {
		if p.Incarnation != 0 {
			n++
		}
	}
	return n
}

// majorityAlive: this speaker sees more than half of the speakers alive, itself included.
func majorityAlive(v liveness.View) bool {
	if !v.SelfAlive {
		return false
	}
	alive := 1
	for _, p := range v.Peers {
		if p.Alive && p.Incarnation != 0 {
			alive++
		}
	}
	return 2*alive > speakerCount(v)
}

// Transition is a node starting or stopping being excluded, for Events and logs.
type Transition struct {
	Node     string
	Excluded bool
	// Reason: "Dead" on start; on stop "Returned" (alive again), "Restarted" (alive again as a new
	// speaker process, its endpoints ready again or RestartHold over) or "NoAgreement" (this
	// speaker lost its majority, or the node's speaker left or was removed).
	Reason             string
	Agreeing, Speakers int
}

// Tracker turns successive views into the excluded set. Not safe for concurrent use.
type Tracker struct {
	cfg   Config
	nodes map[string]*state
}

type state struct {
	deadSince  time.Time
	inc        uint64    // the node's speaker incarnation when it died
	aliveSince time.Time // zero while dead
	returnedAt time.Time // back with a new incarnation for ReturnAfter: endpoints wait for readiness
}

// New returns a Tracker with nothing excluded.
func New(cfg Config) *Tracker {
	if cfg.ReturnAfter <= 0 {
		cfg.ReturnAfter = DefaultReturnAfter
	}
	if cfg.RestartHold <= 0 {
		cfg.RestartHold = DefaultRestartHold
	}
	return &Tracker{cfg: cfg, nodes: map[string]*state{}}
}

// Update takes this speaker's view at now and returns the nodes to exclude (for
// proxy.SetExcludedNodes), the transitions since the last call, and when it must be called
// again even if the view does not change (zero: only on a change).
func (t *Tracker) Update(v liveness.View, now time.Time) (map[string]proxy.ExcludedNode, []Transition, time.Time) {
	all, agreed := Agreed(v)
	quorum := majorityAlive(v)
	var changes []Transition
	var next time.Time
	wake := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	stop := func(name, reason string) {
		delete(t.nodes, name)
		changes = append(changes, Transition{Node: name, Reason: reason, Agreeing: all[name].Agreeing, Speakers: speakerCount(v)})
	}
	for _, name := range slices.Sorted(maps.Keys(agreed)) {
		s := t.nodes[name]
		switch {
		case s == nil:
			t.nodes[name] = &state{deadSince: all[name].DeadSince, inc: v.Peers[name].Incarnation}
			a := all[name]
			changes = append(changes, Transition{Node: name, Excluded: true, Reason: "Dead", Agreeing: a.Agreeing, Speakers: a.Speakers})
		case !s.returnedAt.IsZero():
			// It had come back as a new process and died again: a new death.
			*s = state{deadSince: all[name].DeadSince, inc: v.Peers[name].Incarnation}
		default:
			s.aliveSince = time.Time{} // died again within ReturnAfter: still the same exclusion
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.nodes)) {
		if agreed[name] {
			continue
		}
		s, p := t.nodes[name], v.Peers[name]
		switch {
		case p.Dead && quorum:
			// Still dead here, and this speaker still sees a majority: the others' reports may lag
			// by a heartbeat (a flapping link), which must not take the node back and out again.
			s.aliveSince = time.Time{}
		case !p.Alive:
			stop(name, "NoAgreement")
		default:
			if s.aliveSince.IsZero() {
				s.aliveSince = now
			}
			if back := s.aliveSince.Add(t.cfg.ReturnAfter); now.Before(back) {
				wake(back)
				continue
			}
			if p.Incarnation == s.inc {
				stop(name, "Returned")
				continue
			}
			if s.returnedAt.IsZero() {
				s.returnedAt = s.aliveSince
			}
			if end := s.returnedAt.Add(t.cfg.RestartHold); now.Before(end) {
				wake(end)
				continue
			}
			stop(name, "Restarted")
		}
	}
	out := make(map[string]proxy.ExcludedNode, len(t.nodes))
	for name, s := range t.nodes {
		out[name] = proxy.ExcludedNode{DeadSince: s.deadSince, ReturnedAt: s.returnedAt}
	}
	return out, changes, next
}
