package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// watchServer is an API server with no objects that counts, by resource, the requests that
// start an informer (a LIST, or a watch that sends the initial events) and the watches.
type watchServer struct {
	mu      sync.Mutex
	starts  map[string]int
	watches map[string]int
	// selectors are the label selectors of the requests, by resource.
	selectors map[string]map[string]bool
}

// kinds are the resources the speaker's loops read, with their kind and group version.
var kinds = map[string][2]string{
	"services": {"Service", "v1"}, "nodes": {"Node", "v1"}, "secrets": {"Secret", "v1"},
	"endpointslices":    {"EndpointSlice", "discovery.k8s.io/v1"},
	"ippools":           {"IPPool", "frontdesk.dev/v1alpha1"},
	"ipallocations":     {"IPAllocation", "frontdesk.dev/v1alpha1"},
	"l2advertisements":  {"L2Advertisement", "frontdesk.dev/v1alpha1"},
	"bgppeers":          {"BGPPeer", "frontdesk.dev/v1alpha1"},
	"bgpadvertisements": {"BGPAdvertisement", "frontdesk.dev/v1alpha1"},
}

func (s *watchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := path.Base(r.URL.Path)
	k, ok := kinds[res]
	if r.Method != http.MethodGet || !ok {
		http.NotFound(w, r) // nothing else is read, and with no objects nothing is written
		return
	}
	q := r.URL.Query()
	watch, initial := q.Get("watch") == "true", q.Get("sendInitialEvents") == "true"
	s.mu.Lock()
	if s.selectors[res] == nil {
		s.selectors[res] = map[string]bool{}
	}
	s.selectors[res][q.Get("labelSelector")] = true
	if !watch || initial {
		s.starts[res]++
	}
	if watch {
		s.watches[res]++
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !watch {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": k[0] + "List", "apiVersion": k[1], "metadata": map[string]any{"resourceVersion": "1"}, "items": []any{},
		})
		return
	}
	if initial { // a watch-list: no objects, then the bookmark that ends the initial events
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{
			"kind": k[0], "apiVersion": k[1], "metadata": map[string]any{
				"resourceVersion": "1", "annotations": map[string]string{"k8s.io/initial-events-end": "true"}},
		}})
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done() // no changes until the informer stops
}

func (s *watchServer) counts() (starts, watches map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	starts, watches = map[string]int{}, map[string]int{}
	for k, v := range s.starts {
		starts[k] = v
	}
	for k, v := range s.watches {
		watches[k] = v
	}
	return starts, watches
}

// waitFor polls the counts until ok or the deadline.
func (s *watchServer) waitFor(t *testing.T, what string, ok func(starts, watches map[string]int) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		starts, watches := s.counts()
		if ok(starts, watches) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: starts %v, watches %v", what, starts, watches)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startWatchServer(t *testing.T) (*watchServer, clients) {
	s := &watchServer{starts: map[string]int{}, watches: map[string]int{}, selectors: map[string]map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := newClients(&rest.Config{Host: srv.URL}, "test's", 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

type nopAnnouncer struct{}

func (nopAnnouncer) SetVIPs(map[netip.Addr]announce.Announcement) (map[netip.Addr]l2.VIPStatus, error) {
	return nil, nil
}
func (nopAnnouncer) Reannounce(...netip.Addr) error { return nil }

type aloneMembership struct{}

func (aloneMembership) Alive() map[string]bool                   { return map[string]bool{"n1": true} }
func (aloneMembership) HasQuorum() bool                          { return true }
func (aloneMembership) Changes() <-chan struct{}                 { return nil }
func (aloneMembership) SetPeers(map[string]netip.AddrPort) error { return nil }

// loopConfig is a loop of both protocols on set withBGP, else of layer 2 alone.
func loopConfig(c clients, set *loop.Informers, withBGP bool, synced func()) LoopConfig {
	cfg := LoopConfig{
		Config: loop.Config{NodeName: "n1", API: c.api, Informers: set, Membership: aloneMembership{}},
		L2:     &l2mode.Config{NodeName: "n1", Announcer: nopAnnouncer{}, Synced: synced},
	}
	if withBGP {
		cfg.BGP = &bgpmode.Config{NodeName: "n1", Namespace: "frontdesk-system", BGP: c.api,
			NewSpeaker: func(netip.Addr, bool, func(bgp.SessionState)) (bgpmode.Speaker, error) {
				return nil, fmt.Errorf("no speaker in this test") // no Node, so never called
			}}
	}
	return cfg
}

// With --bgp, Main's loop drives both protocols on one informer set: each resource is listed
// and watched once, and the loop syncs on all of them.
func TestLoopWatchesEachResourceOnce(t *testing.T) {
	s, c := startWatchServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	synced := make(chan struct{})
	errs := make(chan error, 1)
	wg.Go(func() {
		errs <- runLoop(ctx, c.kube, loopConfig(c, loop.NewInformers(c.kube, c.api, time.Hour), true, func() { close(synced) }))
	})
	// The loop runs its protocols only once every informer of the set has synced.
	select {
	case <-synced:
	case err := <-errs:
		t.Fatalf("the loop returned before syncing: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not sync")
	}
	// Both protocols' informers have started: a second informer of a resource would show as a
	// second start already.
	s.waitFor(t, "a watch of every resource", func(_, watches map[string]int) bool {
		return len(watches) == len(kinds)
	})
	starts, watches := s.counts()
	for res := range kinds {
		if starts[res] != 1 || watches[res] != 1 {
			t.Errorf("%s: %d lists and %d watches, want 1 and 1", res, starts[res], watches[res])
		}
	}
	// Only the labelled password Secrets reach the node, not every Secret of the namespace
	// (Helm's release Secrets, the heartbeat key): the API server filters by label (issue 17).
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := map[string]bool{"frontdesk.dev/bgp-password=true": true}; !maps.Equal(s.selectors["secrets"], want) {
		t.Errorf("Secrets were listed and watched with the label selectors %v, want only %v", s.selectors["secrets"], want)
	}
}

// The control: two loops, each on an informer set of its own (layer 2 in one, BGP in the other),
// list and watch what both read twice. This is what the counting above would show
// if Main's protocols did not share one loop and one set.
func TestLoopsOnTheirOwnInformersWatchTwice(t *testing.T) {
	s, c := startWatchServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		_ = runLoop(ctx, c.kube, loopConfig(c, loop.NewInformers(c.kube, c.api, time.Hour), false, nil))
	})
	bgpAlone := loopConfig(c, loop.NewInformers(c.kube, c.api, time.Hour), true, nil)
	bgpAlone.L2 = nil
	wg.Go(func() { _ = runLoop(ctx, c.kube, bgpAlone) })
	shared := []string{"services", "endpointslices", "nodes", "ippools", "ipallocations"}
	s.waitFor(t, "two watches of each resource both loops read", func(_, watches map[string]int) bool {
		for _, res := range shared {
			if watches[res] < 2 {
				return false
			}
		}
		return true
	})
	starts, _ := s.counts()
	for _, res := range shared {
		if starts[res] != 2 {
			t.Errorf("%s: %d lists, want 2 (one per loop)", res, starts[res])
		}
	}
}
