package loop

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// fakeProtocol announces addr in its mode from its first Sync on, and counts the calls.
type fakeProtocol struct {
	mode          v1alpha1.AnnouncementMode
	mu            sync.Mutex
	syncs, closes int
}

func (f *fakeProtocol) Mode() v1alpha1.AnnouncementMode { return f.mode }
func (f *fakeProtocol) Wakes() []<-chan struct{}        { return nil }

func (f *fakeProtocol) Sync(context.Context, *Snapshot, Recorder) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	return Report{Parts: map[netip.Addr]Part{addr: entry("n1", f.mode, true)}}, nil
}

func (f *fakeProtocol) Close(context.Context) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return Report{Parts: map[netip.Addr]Part{addr: entry("n1", f.mode, false)}, Sure: true}, nil
}

func (f *fakeProtocol) calls() (syncs, closes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs, f.closes
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runWorker builds a loop of protocols with cfg, over empty informers but base's IPAllocations,
// and runs its worker (and its Writer) as Run does once the caches synced, until the test ends.
func runWorker(t *testing.T, base *Loop, cfg Config, protocols ...Protocol) *Loop {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	l := &Loop{
		cfg: cfg, log: klog.Background(), protocols: protocols,
		services: corelisters.NewServiceLister(idx()), slices: discoverylisters.NewEndpointSliceLister(idx()),
		nodes: corelisters.NewNodeLister(idx()), pools: fdlisters.NewIPPoolLister(idx()), allocs: base.allocs,
		events: ServiceEvents(record.NewFakeRecorder(10), corelisters.NewServiceLister(idx())),
	}
	l.init()
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.loop(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	return l
}

// The worker runs every protocol on one snapshot and writes their parts of an address at once;
// Retire withdraws one protocol between two runs and queues its removal, which Flush writes, and
// the loop goes on with the other.
func TestLoopRunsProtocolsAndRetires(t *testing.T) {
	base, api, allocs := newTestLoop(t, alloc(addr, "1"))
	p1, p2 := &fakeProtocol{mode: l2}, &fakeProtocol{mode: bgp}
	l := runWorker(t, base, Config{NodeName: "n1", API: api, MinInterval: time.Millisecond}, p1, p2)

	name := allocs[0].Name
	waitUntil(t, "the first run's write", func() bool { return api.count() == 1 })
	want := []v1alpha1.Announcer{{Node: "n1", Mode: bgp}, {Node: "n1", Mode: l2}}
	if d := cmp.Diff(want, api.status(name).Announcers); d != "" {
		t.Fatalf("after the first run (-want +got):\n%s", d)
	}

	if err := l.Retire(t.Context(), p2); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, closes := p2.calls(); closes != 1 {
		t.Errorf("retired protocol closed %d times, want 1", closes)
	}
	if d := cmp.Diff([]v1alpha1.Announcer{{Node: "n1", Mode: l2}}, api.status(name).Announcers); d != "" {
		t.Errorf("after Retire (-want +got):\n%s", d)
	}
	s1, _ := p1.calls()
	s2, _ := p2.calls()
	l.markDirty()
	waitUntil(t, "a run after Retire", func() bool { n, _ := p1.calls(); return n > s1 })
	if n, _ := p2.calls(); n != s2 {
		t.Errorf("the retired protocol ran again (%d syncs, was %d)", n, s2)
	}
	if _, closes := p1.calls(); closes != 0 {
		t.Errorf("the other protocol was closed")
	}
}

// New names the first wrong field of its Config.
func TestConfigValidate(t *testing.T) {
	_, err := New(Config{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "NodeName" {
		t.Fatalf("New(Config{}) = %v, want a *ConfigError on NodeName", err)
	}
}

// fakeMembership is liveness whose view the test sets.
type fakeMembership struct {
	mu    sync.Mutex
	alive map[string]bool
}

func (m *fakeMembership) Alive() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.alive)
}
func (m *fakeMembership) HasQuorum() bool                          { return true }
func (m *fakeMembership) Changes() <-chan struct{}                 { return nil }
func (m *fakeMembership) SetPeers(map[string]netip.AddrPort) error { return nil }

func (m *fakeMembership) set(node string, alive bool) {
	m.mu.Lock()
	m.alive[node] = alive
	m.mu.Unlock()
}

// A run while this speaker is not running in liveness (a restarted speaker's first run, before
// its heartbeats start) syncs the protocols but writes no status: its verdicts, made without
// itself, would take this node's entries out for a moment. The first run alive writes.
func TestNoStatusWhileNotAlive(t *testing.T) {
	base, api, allocs := newTestLoop(t, alloc(addr, "1"))
	m := &fakeMembership{alive: map[string]bool{"n1": false, "n2": true}}
	p := &fakeProtocol{mode: l2}
	l := runWorker(t, base, Config{NodeName: "n1", API: api, MinInterval: time.Millisecond, Membership: m}, p)
	waitUntil(t, "a run", func() bool { n, _ := p.calls(); return n >= 1 })
	l.markDirty()
	waitUntil(t, "a second run", func() bool { n, _ := p.calls(); return n >= 2 })
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := api.count(); n != 0 {
		t.Fatalf("%d status writes while this speaker was not alive, want none", n)
	}
	m.set("n1", true)
	l.markDirty()
	waitUntil(t, "the first write once alive", func() bool { return api.count() == 1 })
	if d := cmp.Diff([]v1alpha1.Announcer{{Node: "n1", Mode: l2}}, api.status(allocs[0].Name).Announcers); d != "" {
		t.Errorf("once alive (-want +got):\n%s", d)
	}
}
