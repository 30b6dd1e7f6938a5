// Package deadnodes decides, from a speaker's liveness membership, which nodes the node proxy
// treats as dead: their endpoints take no new connections (proxy.SetExcludedNodes) within about
// a second of the death, instead of the ~50 s Kubernetes needs to mark them not ready.
//
// The rule (docs/design/dead-nodes.md has the partition shapes): a node starts being excluded
// when this speaker sees it dead (heard, then silent for the liveness Timeout; not left, not
// never heard) and more than half of the speakers, each alive in this speaker's view (itself
// included), report it dead in their heartbeats. It stays excluded while this speaker still sees
// it dead and still sees a majority alive; it is taken back once it has been alive ReturnAfter
// without a break (a flapping link keeps it out). The node's boot ID (liveness wire version 3)
// says how: the same speaker process, or a new one on the same boot (a speaker restart: its Pods
// ran all along), takes it back whole; a new boot (a reboot), or a new process of unknown boot,
// brings its endpoints back one by one as Kubernetes reports them ready again, or all of them
// after RestartHold. A node that rebooted without being excluded (its speaker left on shutdown,
// or no majority agreed on its death) is held the same way from its first heartbeat on the new
// boot. Everything else (this speaker losing its majority, the node's speaker leaving, the node
// removed) takes it back at once: without strong evidence the proxy follows Kubernetes.
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
	// RestartHold bounds how long the endpoints of a node back on a new boot (or with a new
	// speaker process of unknown boot) wait for Kubernetes to report them ready again.
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

// Reason says why a node starts or stops being excluded (Transition.Reason).
type Reason string

const (
	// Dead (start): a majority of speakers reports it dead.
	Dead Reason = "Dead"
	// Rebooted, on start: its speaker came back on a new boot while it was not excluded (the
	// Pods listed from before are gone, so its endpoints wait to be ready again); on stop: back on
	// a new boot, its endpoints ready again or RestartHold over.
	Rebooted Reason = "Rebooted"
	// Returned (stop): alive again, the same speaker process: a partition healed.
	Returned Reason = "Returned"
	// SpeakerRestarted (stop): alive again as a new speaker process on the same boot: the node
	// and its Pods ran all along.
	SpeakerRestarted Reason = "SpeakerRestarted"
	// Restarted (stop): back as a new speaker process of unknown boot, handled as Rebooted.
	Restarted Reason = "Restarted"
	// NoAgreement (stop): this speaker lost its majority, or the node's speaker left or was
	// removed.
	NoAgreement Reason = "NoAgreement"
)

// Transition is a node starting or stopping being excluded, for Events and logs.
type Transition struct {
	Node               string
	Excluded           bool
	Reason             Reason
	Agreeing, Speakers int
}

// Tracker turns successive views into the excluded set. Not safe for concurrent use.
type Tracker struct {
	cfg   Config
	nodes map[string]*state
	// reboots are the View's RebootedAt already acted on, per node, so that one reboot starts
	// one hold.
	reboots map[string]time.Time
}

type state struct {
	deadSince  time.Time
	inc        uint64          // the node's speaker incarnation when it died
	boot       liveness.BootID // and its boot ID then (zero: unknown)
	aliveSince time.Time       // zero while dead
	// returnedAt: back on a new boot (or as a new process of unknown boot): its endpoints come
	// back as they turn ready after it, all of them RestartHold after it. why is the stop reason.
	returnedAt time.Time
	why        Reason
}

// New returns a Tracker with nothing excluded.
func New(cfg Config) *Tracker {
	if cfg.ReturnAfter <= 0 {
		cfg.ReturnAfter = DefaultReturnAfter
	}
	if cfg.RestartHold <= 0 {
		cfg.RestartHold = DefaultRestartHold
	}
	return &Tracker{cfg: cfg, nodes: map[string]*state{}, reboots: map[string]time.Time{}}
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
	stop := func(name string, reason Reason) {
		delete(t.nodes, name)
		changes = append(changes, Transition{Node: name, Reason: reason, Agreeing: all[name].Agreeing, Speakers: speakerCount(v)})
	}
	dead := func(name string) *state {
		p := v.Peers[name]
		return &state{deadSince: all[name].DeadSince, inc: p.Incarnation, boot: p.BootID}
	}
	for _, name := range slices.Sorted(maps.Keys(agreed)) {
		s := t.nodes[name]
		switch {
		case s == nil:
			t.nodes[name] = dead(name)
			a := all[name]
			changes = append(changes, Transition{Node: name, Excluded: true, Reason: Dead, Agreeing: a.Agreeing, Speakers: a.Speakers})
		case !s.returnedAt.IsZero():
			// It had come back on a new boot (or as a new process) and died again: a new death.
			*s = *dead(name)
		default:
			s.aliveSince = time.Time{} // died again within ReturnAfter: still the same exclusion
		}
	}
	changes = append(changes, t.rebooted(v, now)...)
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
			stop(name, NoAgreement)
		default:
			if s.aliveSince.IsZero() {
				s.aliveSince = now
			}
			if s.returnedAt.IsZero() {
				if back := s.aliveSince.Add(t.cfg.ReturnAfter); now.Before(back) {
					wake(back)
					continue
				}
				switch {
				case p.Incarnation == s.inc:
					stop(name, Returned)
					continue
				case !s.boot.IsZero() && p.BootID == s.boot:
					// A new speaker process on the same boot: the node kept running, and so did
					// its Pods, whose endpoints Kubernetes never stopped calling ready.
					stop(name, SpeakerRestarted)
					continue
				}
				s.returnedAt, s.why = s.aliveSince, Restarted
				if !s.boot.IsZero() && !p.BootID.IsZero() {
					s.why = Rebooted
				}
			}
			if end := s.returnedAt.Add(t.cfg.RestartHold); now.Before(end) {
				wake(end)
				continue
			}
			stop(name, s.why)
		}
	}
	out := make(map[string]proxy.ExcludedNode, len(t.nodes))
	for name, s := range t.nodes {
		out[name] = proxy.ExcludedNode{DeadSince: s.deadSince, ReturnedAt: s.returnedAt}
	}
	return out, changes, next
}

// rebooted starts a hold on each node that this view says rebooted (a new boot ID heard from its
// speaker) and that is not excluded already: one whose speaker left before the reboot (SIGTERM
// on shutdown), or whose death no majority agreed on (two nodes, a split). The Pods it ran are
// gone, though their endpoints may still be listed ready; those not ready since the reboot take
// no new connections, and their conntrack entries are cleared (the connections died with the
// node), until they turn ready or RestartHold passes. The node itself says it rebooted, in an
// authenticated heartbeat: no majority is needed for that.
func (t *Tracker) rebooted(v liveness.View, now time.Time) []Transition {
	var changes []Transition
	for name := range t.reboots {
		if _, ok := v.Peers[name]; !ok {
			delete(t.reboots, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(v.Peers)) {
		p := v.Peers[name]
		if p.RebootedAt.IsZero() || t.reboots[name].Equal(p.RebootedAt) {
			continue
		}
		t.reboots[name] = p.RebootedAt
		if s := t.nodes[name]; s != nil {
			// Excluded already: its return decides, unless it is held for readiness and rebooted
			// again, which takes the Pods ready since the first return too.
			if !s.returnedAt.IsZero() && p.Alive && p.RebootedAt.After(s.returnedAt) {
				*s = state{deadSince: s.deadSince, inc: p.Incarnation, boot: p.BootID, aliveSince: p.RebootedAt, returnedAt: p.RebootedAt, why: Rebooted}
			}
			continue
		}
		if !v.SelfAlive || !p.Alive || !now.Before(p.RebootedAt.Add(t.cfg.RestartHold)) {
			continue // nothing left to hold
		}
		t.nodes[name] = &state{inc: p.Incarnation, boot: p.BootID, aliveSince: p.RebootedAt, returnedAt: p.RebootedAt, why: Rebooted}
		changes = append(changes, Transition{Node: name, Excluded: true, Reason: Rebooted, Speakers: speakerCount(v)})
	}
	return changes
}
