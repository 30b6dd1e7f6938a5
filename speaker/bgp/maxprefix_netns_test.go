//go:build netns

package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/test/bgprouters"
)

// TestMaxPrefix: a router (BIRD) that sends the speaker 100,000 routes gets its session shut
// down at the prefix limit, instead of filling the speaker's memory (issue 17): the speaker's
// peak memory stays within a bound the 100,000 routes would exceed, the session state says
// why, the speaker connects again after the peer's MaxPrefixRestart (BGPPeer
// spec.maxPrefixRestartSeconds; the speaker's Config.MaxPrefixRestart, an hour here, is only
// the default) and is shut down again (the router still floods), and its other session, to a router that behaves (gobgpd), never
// leaves Established and keeps the speaker's route.
func TestMaxPrefix(t *testing.T) {
	const flood = 100_000
	// The flooding router is the lab's router (10.0.0.1); the calm one sits beside it.
	calmAddr := netip.MustParseAddr("10.0.0.2")
	l := newLab(t, 1)
	calmNS := l.addRouterNS(t, "r2", calmAddr)
	calmCfg := routerConfig(speakerASN, nodeAddr(0))
	calmCfg.Router = calmAddr
	calm := bgprouters.StartGoBGP(t, calmNS, l.dir("calm"), calmCfg)

	sp := startSpeakerWith(t, l.nodes[0], helperConfig{RouterID: nodeAddr(0), ASN: speakerASN, MaxPrefixRestart: time.Hour})
	calmPeer := routerPeer("calm", func(p *PeerConfig) { p.Address = calmAddr })
	vip := hostRoutes("calm", "198.51.100.7")
	sp.set([]PeerConfig{calmPeer}, vip)
	sp.waitState("calm", StateEstablished, 30*time.Second)
	waitPaths(t, calm, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)
	before := sp.call(helperCmd{Cmd: "mem"})

	floodCfg := routerConfig(speakerASN, nodeAddr(0))
	floodCfg.Flood = flood
	l.startRouter(t, bgprouters.BIRD, floodCfg)
	rs := hostRoutes("calm", "198.51.100.7")
	rs["flood"] = hostRoutes("flood", "198.51.100.7")["flood"]
	sp.set([]PeerConfig{calmPeer, routerPeer("flood", func(p *PeerConfig) { p.MaxPrefixRestart = 3 * time.Second })}, rs)

	// Shut down at the limit, with the reason in the state (which the BGPPeer status shows).
	maxedOut := func(h []SessionState) int {
		n := 0
		for _, st := range h {
			if st.State != StateEstablished && strings.HasPrefix(st.Message, fmt.Sprintf("max-prefix: the peer sent more than %d routes", DefaultMaxPrefixes)) {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		if h := sp.historyOf("flood"); maxedOut(h) == 0 {
			return fmt.Sprintf("the flooding router's session was not shut down at the prefix limit: states %v", h)
		}
		return ""
	})
	// And again after the peer's MaxPrefixRestart: the speaker tried once more, and the router
	// flooded again.
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		if h := sp.historyOf("flood"); maxedOut(h) < 2 {
			return fmt.Sprintf("no second attempt after MaxPrefixRestart shut down at the limit: states %v", h)
		}
		return ""
	})

	// The speaker refused to hold the 100,000 routes: GoBGP stores a peer's routes before any
	// import policy, so without the limit they all stay in the Adj-RIB-In (measured in two runs:
	// the peak grew by 75 and 103 MiB, 770 to 1,060 bytes a route); with it, one UPDATE's worth at
	// most (measured: 2 to 8 MiB of growth).
	after := sp.call(helperCmd{Cmd: "mem"})
	const bound = 32 << 20
	if grew := after.PeakRSS - before.PeakRSS; grew > bound {
		t.Errorf("the speaker's peak memory grew by %d MiB (from %d to %d MiB) while the router sent %d routes; want at most %d MiB",
			grew>>20, before.PeakRSS>>20, after.PeakRSS>>20, flood, bound>>20)
	}
	t.Logf("speaker peak memory before the flood %d MiB, after %d MiB", before.PeakRSS>>20, after.PeakRSS>>20)
	if rib := sp.call(helperCmd{Cmd: "rib"}); len(rib.RIB) > 1 {
		t.Errorf("the speaker's RIB holds %d routes, want only its own", len(rib.RIB))
	}

	// The other session never went down, and its router still has the route.
	h := sp.historyOf("calm")
	up := slices.IndexFunc(h, func(st SessionState) bool { return st.State == StateEstablished })
	for _, st := range h[up+1:] { // up ≥ 0: waitState saw it
		t.Errorf("the calm router's session left Established: %+v", st)
	}
	waitPaths(t, calm, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, time.Second)
}
