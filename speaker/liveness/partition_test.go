package liveness

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

// Partition behaviour, with the real election on each side: every node elects from its own view
// of liveness, as a speaker does after each change.
//
// VIP plan: 300 consecutive addresses from 198.51.100.0 (documentation range), all
// externalTrafficPolicy Cluster, all Nodes Ready.

func vips(n int) []netip.Addr {
	a := netip.MustParseAddr("198.51.100.0")
	out := make([]netip.Addr, n)
	for i := range out {
		out[i], a = a, a.Next()
	}
	return out
}

// announcers returns, for every VIP, the running nodes that announce it as they see the world now.
func announcers(t *testing.T, s *sim, addrs []netip.Addr) map[netip.Addr][]string {
	t.Helper()
	out := make(map[netip.Addr][]string, len(addrs))
	for _, name := range s.names {
		n := s.nodes[name]
		if !n.up {
			continue
		}
		alive := n.m.Alive()
		var nodes []election.Node
		for _, other := range s.names {
			nodes = append(nodes, election.Node{Name: other, SpeakerAlive: alive[other]})
		}
		e, err := election.New(election.Config{Self: name, Nodes: nodes, NoQuorum: !n.m.HasQuorum()})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if e.Elect(election.Announcement{Addr: a}).Announce() {
				out[a] = append(out[a], name)
			}
		}
	}
	return out
}

// census counts VIPs announced by no node, one node, and two or more.
type census struct{ none, one, many int }

func count(ann map[netip.Addr][]string, addrs []netip.Addr) census {
	var c census
	for _, a := range addrs {
		switch len(ann[a]) {
		case 0:
			c.none++
		case 1:
			c.one++
		default:
			c.many++
		}
	}
	return c
}

// timeline samples the announcers every step for d and returns, per sample, the census and time.
type sample struct {
	at time.Duration // since the reference instant
	census
	byNode map[string]int
}

func timeline(t *testing.T, s *sim, addrs []netip.Addr, ref time.Time, d, step time.Duration) []sample {
	var out []sample
	for end := s.now().Add(d); s.now().Before(end); s.run(step) {
		ann := announcers(t, s, addrs)
		by := map[string]int{}
		for _, ns := range ann {
			for _, n := range ns {
				by[n]++
			}
		}
		out = append(out, sample{at: s.now().Sub(ref), census: count(ann, addrs), byNode: by})
	}
	return out
}

// window returns the first and last sample times where pred holds (-1 if never).
func window(ss []sample, pred func(sample) bool) (first, last time.Duration) {
	first, last = -1, -1
	for _, x := range ss {
		if pred(x) {
			if first < 0 {
				first = x.at
			}
			last = x.at
		}
	}
	return first, last
}

const step = 5 * time.Millisecond

// TestPartitionWithoutQuorum: the default. Each side declares the other dead after the timeout
// and elects among what it sees, so for the whole partition every VIP is announced on both sides;
// once the partition heals, within two heartbeats, each VIP has one announcer again.
func TestPartitionWithoutQuorum(t *testing.T) {
	s := steady(t, 3, nil)
	addrs := vips(300)
	if c := count(announcers(t, s, addrs), addrs); c != (census{one: 300}) {
		t.Fatalf("before the partition: %+v, want every VIP announced once", c)
	}
	s.run(61 * time.Millisecond)
	cut := s.now()
	s.partition([]string{"node-0", "node-1"}, []string{"node-2"})
	during := timeline(t, s, addrs, cut, 5*time.Second, step)
	healed := s.now()
	s.heal()
	after := timeline(t, s, addrs, healed, 2*time.Second, step)

	// Before the timeout, nothing moves.
	for _, x := range during {
		if x.at < timeout-interval && x.census != (census{one: 300}) {
			t.Fatalf("%v after the cut: %+v, want every VIP announced once", x.at, x.census)
		}
		if x.none != 0 {
			t.Errorf("%v after the cut: %d VIPs announced by nobody", x.at, x.none)
		}
	}
	// From the timeout to the heal, both sides announce everything: the isolated node-2 all 300,
	// and node-0 and node-1 all 300 between them.
	first, _ := window(during, func(x sample) bool { return x.census == census{many: 300} })
	if first < 0 || first > timeout {
		t.Fatalf("both sides announce every VIP from %v after the cut, want by %v", first, timeout)
	}
	for _, x := range during {
		if x.at >= timeout && (x.census != census{many: 300} || x.byNode["node-2"] != 300) {
			t.Fatalf("%v after the cut: %+v, node-2 announces %d; want every VIP on both sides", x.at, x.census, x.byNode["node-2"])
		}
	}
	// After the heal, the nonces each side echoes are stale: one round teaches each side the
	// other's, the next is verified; ≤ 2 intervals.
	_, unsettled := window(after, func(x sample) bool { return x.census != census{one: 300} })
	if unsettled > 2*interval {
		t.Errorf("VIPs not announced once each until %v after the heal, want ≤ %v", unsettled, 2*interval)
	}
	t.Logf("without quorum: all 300 VIPs announced on both sides from %v after the cut until the heal %v later; "+
		"settled %v after the heal", first, healed.Sub(cut), unsettled)
}

// TestPartitionWithQuorum: with RequireQuorum, in a 3-node cluster the isolated node loses its
// quorum at the timeout and falls silent, while the 2-node side takes its VIPs over at the same
// moment (give or take the phase of heartbeats, ≤ Interval).
func TestPartitionWithQuorum(t *testing.T) {
	s := steady(t, 3, func(c *Config) { c.RequireQuorum = true })
	addrs := vips(300)
	before := announcers(t, s, addrs)
	if c := count(before, addrs); c != (census{one: 300}) {
		t.Fatalf("before the partition: %+v, want every VIP announced once", c)
	}
	s.run(61 * time.Millisecond)
	cut := s.now()
	s.partition([]string{"node-0", "node-1"}, []string{"node-2"})
	during := timeline(t, s, addrs, cut, 5*time.Second, step)
	healed := s.now()
	s.heal()
	after := timeline(t, s, addrs, healed, 2*time.Second, step)

	firstDual, lastDual := window(during, func(x sample) bool { return x.many > 0 })
	firstGap, lastGap := window(during, func(x sample) bool { return x.none > 0 })
	silent, _ := window(during, func(x sample) bool { return x.byNode["node-2"] == 0 })
	if silent < 0 || silent > timeout {
		t.Errorf("the isolated node-2 fell silent %v after the cut, want by %v", silent, timeout)
	}
	for _, x := range during {
		if x.at >= silent && x.byNode["node-2"] != 0 {
			t.Errorf("%v after the cut: node-2 announces %d VIPs again", x.at, x.byNode["node-2"])
		}
		if x.at > timeout && x.census != (census{one: 300}) {
			t.Fatalf("%v after the cut: %+v, want node-0 and node-1 announcing every VIP once", x.at, x.census)
		}
	}
	// Any overlap or gap is confined to the heartbeat phase difference around the timeout.
	for _, w := range []struct {
		what        string
		first, last time.Duration
	}{{"announced twice", firstDual, lastDual}, {"announced by nobody", firstGap, lastGap}} {
		if w.first >= 0 && (w.first < timeout-interval || w.last > timeout) {
			t.Errorf("VIPs %s from %v to %v after the cut, want only within (%v, %v]", w.what, w.first, w.last, timeout-interval, timeout)
		}
	}
	// After the heal, node-2 regains the quorum and its own VIPs.
	_, unsettled := window(after, func(x sample) bool { return x.census != census{one: 300} })
	if unsettled > 2*interval {
		t.Errorf("not settled until %v after the heal, want ≤ %v", unsettled, 2*interval)
	}
	if got := announcers(t, s, addrs); !equalAnnouncers(got, before) {
		t.Error("after the heal, the VIPs are not back where they were")
	}
	t.Logf("with quorum: node-2 silent %v after the cut; VIPs announced twice %s, by nobody %s; settled %v after the heal",
		silent, span(firstDual, lastDual), span(firstGap, lastGap), unsettled)
}

func span(first, last time.Duration) string {
	if first < 0 {
		return "never"
	}
	return fmt.Sprintf("from %v to %v after the cut", first, last)
}

func equalAnnouncers(a, b map[netip.Addr][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestQuorumTwoNodes documents the price of RequireQuorum: with two nodes, losing either one
// leaves the other without a majority, and nothing is announced.
func TestQuorumTwoNodes(t *testing.T) {
	s := steady(t, 2, func(c *Config) { c.RequireQuorum = true })
	s.crash("node-1")
	s.run(timeout + interval)
	if s.nodes["node-0"].m.HasQuorum() {
		t.Fatal("node-0 alone of 2 has a quorum")
	}
	addrs := vips(50)
	if c := count(announcers(t, s, addrs), addrs); c != (census{none: 50}) {
		t.Errorf("%+v, want nothing announced", c)
	}
	// Without RequireQuorum, the survivor takes everything over.
	s = steady(t, 2, nil)
	s.crash("node-1")
	s.run(timeout + interval)
	if c := count(announcers(t, s, addrs), addrs); c != (census{one: 50}) {
		t.Errorf("without quorum: %+v, want every VIP announced by node-0", c)
	}
}

// TestQuorumFiveNodes: a 3 | 2 split; only the majority side announces after the timeout.
func TestQuorumFiveNodes(t *testing.T) {
	s := steady(t, 5, func(c *Config) { c.RequireQuorum = true })
	addrs := vips(300)
	s.partition([]string{"node-0", "node-1", "node-2"}, []string{"node-3", "node-4"})
	s.run(timeout + interval)
	ann := announcers(t, s, addrs)
	if c := count(ann, addrs); c != (census{one: 300}) {
		t.Errorf("%+v, want every VIP announced once", c)
	}
	for a, ns := range ann {
		if slices.ContainsFunc(ns, func(n string) bool { return n == "node-3" || n == "node-4" }) {
			t.Fatalf("%s announced by the minority side: %v", a, ns)
		}
	}
}

// TestViewReportsTheDead: a crashed node is reported dead in every survivor's heartbeats within
// Timeout plus an interval, so each survivor's View says the others agree; a node that left or
// was never heard is not Dead.
func TestViewReportsTheDead(t *testing.T) {
	s := newSim(t, 4, nil)
	s.startAll()
	s.run(2 * time.Second)
	s.crash("node-3")
	s.leave("node-2")
	crashed := s.now()
	s.run(DefaultTimeout + 2*DefaultInterval)
	for _, viewer := range []string{"node-0", "node-1"} {
		v := s.nodes[viewer].m.View()
		if st := v.Peers["node-3"]; !st.Dead || st.Alive || st.DeadSince.Before(crashed) || st.DeadSince.After(crashed.Add(DefaultTimeout)) {
			t.Errorf("%s sees node-3 %+v, want Dead since within Timeout of the crash", viewer, st)
		}
		if st := v.Peers["node-2"]; st.Dead || !st.Left {
			t.Errorf("%s sees node-2 (left) %+v, want Left and not Dead", viewer, st)
		}
		other := map[string]string{"node-0": "node-1", "node-1": "node-0"}[viewer]
		if got := v.Peers[other].Reports; !slices.Equal(got, []string{"node-3"}) {
			t.Errorf("%s: %s reports %v dead, want [node-3]", viewer, other, got)
		}
	}
}

// TestVersionOneInterop: a speaker of wire version 1 (the previous release, during a rolling
// upgrade) rejects version 2, so a new speaker sends it version 1 once it has heard one, and
// both see each other alive; the old one reports nothing.
func TestVersionOneInterop(t *testing.T) {
	s := newSim(t, 4, nil)
	s.playOldRelease("node-2", wireV1) // sends version 1 and refuses version 2, as parse did
	s.startAll()
	s.run(3 * time.Second)
	s.checkAllAlive(t, "in a mixed-version cluster")
	s.crash("node-3")
	s.run(2 * time.Second)
	if got := s.nodes["node-1"].m.View().Peers["node-2"].Reports; got != nil {
		t.Errorf("node-1: the version 1 speaker reports %v, want nil (nothing)", got)
	}
	if got := s.nodes["node-0"].m.View().Peers["node-1"].Reports; !slices.Equal(got, []string{"node-3"}) {
		t.Errorf("node-0: node-1 reports %v, want [node-3] (version 2 between new speakers)", got)
	}
	if !s.alive("node-2", "node-0") || !s.alive("node-0", "node-2") {
		t.Error("old and new speakers lost each other after a death")
	}
}
