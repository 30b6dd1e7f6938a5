package loop

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	fdv1alpha1 "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/typed/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// hangingAllocations is an API server that does not answer status updates (a blackhole) until
// released: each UpdateStatus waits for its context or the release.
type hangingAllocations struct {
	*fakeAllocations
	*testkit.Blackhole
}

func (h *hangingAllocations) IPAllocations() fdv1alpha1.IPAllocationInterface { return h }

func (h *hangingAllocations) UpdateStatus(ctx context.Context, a *v1alpha1.IPAllocation, o metav1.UpdateOptions) (*v1alpha1.IPAllocation, error) {
	if err := h.Wait(ctx); err != nil {
		return nil, err
	}
	return h.fakeAllocations.UpdateStatus(ctx, a, o)
}

// stepProtocol announces addr on an interface named after its Sync count: every run changes
// the status.
type stepProtocol struct{ syncs atomic.Int32 }

func (p *stepProtocol) Mode() v1alpha1.AnnouncementMode { return l2 }
func (p *stepProtocol) Wakes() []<-chan struct{}        { return nil }
func (p *stepProtocol) Close(context.Context) (Report, error) {
	return Report{}, nil
}

func (p *stepProtocol) Sync(context.Context, *Snapshot, Recorder) (Report, error) {
	iface := strconv.Itoa(int(p.syncs.Add(1)))
	return Report{Parts: map[netip.Addr]Part{addr: func(st v1alpha1.IPAllocationStatus) v1alpha1.IPAllocationStatus {
		st = *st.DeepCopy()
		st.Announcers = []v1alpha1.Announcer{{Node: "n1", Mode: l2, Interface: iface}}
		return st
	}}}, nil
}

// A status write that hangs (the API server blackholed) holds up no run: the protocols go on
// announcing run after run, and once the API server answers, the status written last is the
// latest run's, with the runs between coalesced into one write (issue 17, item 10).
func TestRunsDoNotWaitForStatusWrites(t *testing.T) {
	base, fake, allocs := newTestLoop(t, alloc(addr, "1"))
	api := &hangingAllocations{fakeAllocations: fake, Blackhole: testkit.NewBlackhole()}
	t.Cleanup(api.Release)
	p := &stepProtocol{}
	// A write timeout longer than the test: only the release ends the hanging write.
	l := runWorker(t, base, Config{NodeName: "n1", API: api, MinInterval: time.Millisecond, Writer: NewWriter(time.Minute, klog.Background())}, p)

	api.AwaitCall(t, 10*time.Second, "status write by the first run")
	for range 2 {
		before := p.syncs.Load()
		start := time.Now()
		l.markDirty()
		for p.syncs.Load() == before {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("no run within 2 s while a status write hangs (%d runs so far)", before)
			}
			time.Sleep(time.Millisecond)
		}
	}
	latest := strconv.Itoa(int(p.syncs.Load()))

	api.Release()
	waitUntil(t, "the status to catch up", func() bool { return l.writer.Pending() == 0 && api.count() >= 2 })
	if n := api.count(); n != 2 {
		t.Errorf("%d writes, want 2: the one under way, then the latest", n)
	}
	if got := api.status(allocs[0].Name).Announcers; len(got) != 1 || got[0].Interface != latest {
		t.Errorf("status announcers %+v, want n1's entry of the latest run (interface %s)", got, latest)
	}
}

// A write that hangs is given up after the Writer's timeout and made again after a pause; a
// Put meanwhile replaces the write not made yet.
func TestWriterTimesOutAndRetries(t *testing.T) {
	w := NewWriter(50*time.Millisecond, klog.Background())
	var calls atomic.Int32
	var firstErr atomic.Value
	w.Put("k", func(ctx context.Context) error {
		calls.Add(1)
		<-ctx.Done() // the blackhole
		firstErr.Store(ctx.Err())
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	waitUntil(t, "the first write to time out", func() bool { return firstErr.Load() != nil })
	if err, _ := firstErr.Load().(error); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the hanging write ended with %v, want its deadline", err)
	}
	var second atomic.Bool
	w.Put("k", func(context.Context) error { second.Store(true); return nil })
	waitUntil(t, "the retry", func() bool { return w.Pending() == 0 })
	if !second.Load() || calls.Load() != 1 {
		t.Errorf("the retry made the new write: %v; the hanging one was called %d times, want 1", second.Load(), calls.Load())
	}
}
