package bgpmode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	fdfake "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/fake"
	fdv1alpha1 "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/typed/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// hangingPeers is an API server that does not answer BGPPeer status patches (a blackhole) until
// released: each Patch waits for its context or the release, and the bodies that got through
// are kept.
type hangingPeers struct {
	client.Interface
	fdv1alpha1.BGPPeerInterface
	*testkit.Blackhole

	mu     sync.Mutex
	bodies []string // patches that got through, in order
}

func (h *hangingPeers) BGPPeers() fdv1alpha1.BGPPeerInterface { return h }

func (h *hangingPeers) Patch(ctx context.Context, _ string, _ types.PatchType, body []byte, _ metav1.PatchOptions, _ ...string) (*v1alpha1.BGPPeer, error) {
	if err := h.Wait(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies = append(h.bodies, string(body))
	return &v1alpha1.BGPPeer{}, nil
}

func (h *hangingPeers) written() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// stateSpeaker reports every configured session in one state, set by the test, and counts the
// full sets of routes it is given.
type stateSpeaker struct {
	mu        sync.Mutex
	peers     []bgp.PeerConfig
	state     bgp.State
	setRoutes int
}

func (s *stateSpeaker) SetPeers(p []bgp.PeerConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = p
	return nil
}

func (s *stateSpeaker) SetRoutes(map[string][]routes.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRoutes++
	return nil
}

func (s *stateSpeaker) Sessions() []bgp.SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bgp.SessionState
	for _, p := range s.peers {
		out = append(out, bgp.SessionState{Peer: p.Name, State: s.state})
	}
	return out
}

func (s *stateSpeaker) Close() error { return nil }

func (s *stateSpeaker) set(st bgp.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
}

func (s *stateSpeaker) routeSets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setRoutes
}

// A BGPPeer status write that hangs (the API server blackholed) holds up no Sync: the routes are
// applied run after run meanwhile, and once the API server answers, the session entry written
// last is the latest state, not every state in between (issue 17, item 10).
func TestSyncDoesNotWaitForSessionWrites(t *testing.T) {
	api := &hangingPeers{Blackhole: testkit.NewBlackhole()}
	t.Cleanup(api.Release)
	set := loop.NewInformers(kubefake.NewClientset(), fdfake.NewSimpleClientset().FrontdeskV1alpha1(), 0) // never started: the test fills the indexers
	peer := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.1", PeerASN: 64512, LocalASN: 64513}}
	if err := set.BGPPeers().GetIndexer().Add(peer); err != nil {
		t.Fatal(err)
	}
	w := loop.NewWriter(time.Minute, klog.Background()) // longer than the test: only the release ends a write
	sp := &stateSpeaker{state: bgp.StateActive}
	p, err := New(set, Config{NodeName: "n1", Namespace: "frontdesk", BGP: api, Writes: w, Logger: klog.Background(),
		NewSpeaker: func(netip.Addr, bool, func(bgp.SessionState)) (Speaker, error) { return sp, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}}}
	snap := &loop.Snapshot{Self: "n1", Node: node, Nodes: []*corev1.Node{node}, Now: metav1.Now()}
	syncWithin := func(what string) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := p.Sync(ctx, snap, loop.ServiceEvents(nil, nil))
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: Sync did not return within 2 s while a BGPPeer status write hangs", what)
		}
	}

	syncWithin("the first Sync")
	api.AwaitCall(t, 10*time.Second, "BGPPeer status write")
	sp.set(bgp.StateConnect)
	syncWithin("a Sync while the first write hangs")
	sp.set(bgp.StateEstablished)
	syncWithin("another Sync while the first write hangs")
	if n := sp.routeSets(); n != 3 {
		t.Fatalf("routes applied %d times, want 3 (one per Sync)", n)
	}

	api.Release()
	testkit.Eventually(t, 10*time.Second, 5*time.Millisecond, func() string {
		if w.Pending() > 0 || len(api.written()) < 2 {
			return fmt.Sprintf("the writes did not catch up: %d pending, written %v", w.Pending(), api.written())
		}
		return ""
	})
	got := api.written()
	if len(got) != 2 {
		t.Fatalf("%d writes, want 2 (the one under way, then the latest): %v", len(got), got)
	}
	var last struct {
		Status v1alpha1.BGPPeerStatus `json:"status"`
	}
	if err := json.Unmarshal([]byte(got[1]), &last); err != nil {
		t.Fatal(err)
	}
	if s := last.Status.Sessions; len(s) != 1 || s[0].State != v1alpha1.BGPSessionEstablished {
		t.Errorf("the last write has sessions %+v, want n1 Established", s)
	}
}
