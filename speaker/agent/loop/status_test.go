package loop

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	fdv1alpha1 "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/typed/api/v1alpha1"
	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// fakeAllocations is the API server's IPAllocations: Get and UpdateStatus, with optimistic
// concurrency on a resourceVersion, and a count of the writes.
type fakeAllocations struct {
	client.Interface                 // the other kinds are not called
	fdv1alpha1.IPAllocationInterface // nor the other methods
	mu                               sync.Mutex
	objs                             map[string]*v1alpha1.IPAllocation
	writes                           int
	conflicts                        int // the next writes that fail with a conflict
}

func (f *fakeAllocations) IPAllocations() fdv1alpha1.IPAllocationInterface { return f }

var allocationsResource = schema.GroupResource{Group: "frontdesk.dev", Resource: "ipallocations"}

func (f *fakeAllocations) put(a *v1alpha1.IPAllocation) { f.objs[a.Name] = a.DeepCopy() }

func (f *fakeAllocations) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *fakeAllocations) status(name string) v1alpha1.IPAllocationStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objs[name].Status
}

func (f *fakeAllocations) setConflicts(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conflicts = n
}

func (f *fakeAllocations) Get(_ context.Context, name string, _ metav1.GetOptions) (*v1alpha1.IPAllocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.objs[name]
	if !ok {
		return nil, apierrors.NewNotFound(allocationsResource, name)
	}
	return a.DeepCopy(), nil
}

func (f *fakeAllocations) UpdateStatus(_ context.Context, a *v1alpha1.IPAllocation, _ metav1.UpdateOptions) (*v1alpha1.IPAllocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.objs[a.Name]
	if !ok {
		return nil, apierrors.NewNotFound(allocationsResource, a.Name)
	}
	if f.conflicts > 0 || cur.ResourceVersion != a.ResourceVersion {
		f.conflicts = max(f.conflicts-1, 0)
		return nil, apierrors.NewConflict(allocationsResource, a.Name, nil)
	}
	f.writes++
	cur.Status = *a.Status.DeepCopy()
	cur.ResourceVersion += "1"
	return cur.DeepCopy(), nil
}

// entry is a Part that puts node's entry of mode in the status, or takes it out.
func entry(node string, mode v1alpha1.AnnouncementMode, present bool) Part {
	return func(st v1alpha1.IPAllocationStatus) v1alpha1.IPAllocationStatus {
		st = *st.DeepCopy()
		i := slices.IndexFunc(st.Announcers, func(a v1alpha1.Announcer) bool { return a.Node == node && a.Mode == mode })
		switch {
		case present && i < 0:
			st.Announcers = append(st.Announcers, v1alpha1.Announcer{Node: node, Mode: mode})
			SortAnnouncers(st.Announcers)
		case !present && i >= 0:
			st.Announcers = slices.Delete(st.Announcers, i, i+1)
		}
		if len(st.Announcers) == 0 {
			st.Announcers = nil
		}
		return st
	}
}

func alloc(addr netip.Addr, rv string, as ...v1alpha1.Announcer) *v1alpha1.IPAllocation {
	return &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(addr), ResourceVersion: rv},
		Spec: v1alpha1.IPAllocationSpec{Address: addr.String(), Pool: "p"}, Status: v1alpha1.IPAllocationStatus{Announcers: as}}
}

// writeStatus queues reports and writes what is queued within ctx: queueStatus made synchronous.
func (l *Loop) writeStatus(ctx context.Context, allocs []*v1alpha1.IPAllocation, reports []modeReport) error {
	l.queueStatus(allocs, reports)
	return l.writer.Flush(ctx)
}

// newTestLoop is a loop whose informer holds objs, over an API server holding them too.
func newTestLoop(t *testing.T, objs ...*v1alpha1.IPAllocation) (*Loop, *fakeAllocations, []*v1alpha1.IPAllocation) {
	t.Helper()
	api := &fakeAllocations{objs: map[string]*v1alpha1.IPAllocation{}}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range objs {
		api.put(o)
		if err := idx.Add(o.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	l := &Loop{cfg: Config{NodeName: "n1", API: api}, log: klog.Background(), allocs: fdlisters.NewIPAllocationLister(idx),
		protocols: []Protocol{&fakeProtocol{mode: l2}, &fakeProtocol{mode: bgp}}}
	l.init()
	return l, api, objs
}

var (
	l2   = v1alpha1.AnnouncementModeL2
	bgp  = v1alpha1.AnnouncementModeBGP
	addr = netip.MustParseAddr("198.51.100.7")
)

// Every protocol's part of one address goes into one write.
func TestWriteStatusMergesParts(t *testing.T) {
	l, api, allocs := newTestLoop(t, alloc(addr, "1"))
	reports := []modeReport{
		{l2, Report{Parts: map[netip.Addr]Part{addr: entry("n1", l2, true)}}},
		{bgp, Report{Parts: map[netip.Addr]Part{addr: entry("n1", bgp, true)}}},
	}
	if err := l.writeStatus(t.Context(), allocs, reports); err != nil {
		t.Fatal(err)
	}
	want := []v1alpha1.Announcer{{Node: "n1", Mode: bgp}, {Node: "n1", Mode: l2}}
	if d := cmp.Diff(want, api.status(allocs[0].Name).Announcers); d != "" || api.count() != 1 {
		t.Errorf("%d writes, want 1; announcers (-want +got):\n%s", api.count(), d)
	}
}

// A conflict re-reads the object and applies every part again, keeping another node's entry
// written meanwhile; nothing is written when nothing changes.
func TestWriteStatusConflict(t *testing.T) {
	l, api, allocs := newTestLoop(t, alloc(addr, "1"))
	// Another node added its entry after the informer's copy was taken.
	api.objs[allocs[0].Name].Status.Announcers = []v1alpha1.Announcer{{Node: "n2", Mode: l2}}
	api.objs[allocs[0].Name].ResourceVersion = "2"
	api.setConflicts(1)
	reports := []modeReport{
		{l2, Report{Parts: map[netip.Addr]Part{addr: entry("n1", l2, true)}}},
		{bgp, Report{Parts: map[netip.Addr]Part{addr: entry("n1", bgp, true)}}},
	}
	if err := l.writeStatus(t.Context(), allocs, reports); err != nil {
		t.Fatal(err)
	}
	want := []v1alpha1.Announcer{{Node: "n1", Mode: bgp}, {Node: "n1", Mode: l2}, {Node: "n2", Mode: l2}}
	if d := cmp.Diff(want, api.status(allocs[0].Name).Announcers); d != "" || api.count() != 1 {
		t.Errorf("%d writes, want 1; announcers (-want +got):\n%s", api.count(), d)
	}

	l, api, allocs = newTestLoop(t, alloc(addr, "1", v1alpha1.Announcer{Node: "n1", Mode: l2}))
	if err := l.writeStatus(t.Context(), allocs, []modeReport{{l2, Report{Parts: map[netip.Addr]Part{addr: entry("n1", l2, true)}}}}); err != nil {
		t.Fatal(err)
	}
	if api.count() != 0 {
		t.Errorf("%d writes of an unchanged status, want 0", api.count())
	}
}

// Default reaches the addresses that left every plan but still name this node, and only those.
func TestWriteStatusDefault(t *testing.T) {
	other := netip.MustParseAddr("198.51.100.8")
	third := netip.MustParseAddr("198.51.100.9")
	l, api, allocs := newTestLoop(t,
		alloc(addr, "1", v1alpha1.Announcer{Node: "n1", Mode: bgp}),
		alloc(other, "1", v1alpha1.Announcer{Node: "n1", Mode: bgp}, v1alpha1.Announcer{Node: "n2", Mode: bgp}),
		alloc(third, "1", v1alpha1.Announcer{Node: "n2", Mode: bgp}))
	visited := map[netip.Addr]bool{}
	rep := Report{
		Parts: map[netip.Addr]Part{addr: entry("n1", bgp, true)},
		Default: func(a netip.Addr) Part {
			visited[a] = true
			return entry("n1", bgp, false)
		},
	}
	if err := l.writeStatus(t.Context(), allocs, []modeReport{{bgp, rep}}); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(visited, map[netip.Addr]bool{other: true}) {
		t.Errorf("Default asked for %v, want only %v", visited, other)
	}
	if got := api.status(allocs[1].Name).Announcers; !cmp.Equal(got, []v1alpha1.Announcer{{Node: "n2", Mode: bgp}}) {
		t.Errorf("%v: announcers %v, want n2's only", other, got)
	}
	if api.count() != 1 {
		t.Errorf("%d writes, want 1", api.count())
	}
}

// Sure: when the informer's copy lags (it does not show this node's entry yet), the object is
// read from the API server, so that the last writes on shutdown remove the entry all the same.
func TestWriteStatusSure(t *testing.T) {
	l, api, allocs := newTestLoop(t, alloc(addr, "1"))
	api.objs[allocs[0].Name].Status.Announcers = []v1alpha1.Announcer{{Node: "n1", Mode: bgp}}
	api.objs[allocs[0].Name].ResourceVersion = "2"
	gone := Report{Parts: map[netip.Addr]Part{addr: entry("n1", bgp, false)}}
	if err := l.writeStatus(t.Context(), allocs, []modeReport{{bgp, gone}}); err != nil || api.count() != 0 {
		t.Fatalf("without Sure: %v, %d writes; want none, as the informer shows nothing to remove", err, api.count())
	}
	gone.Sure = true
	if err := l.writeStatus(t.Context(), allocs, []modeReport{{bgp, gone}}); err != nil {
		t.Fatal(err)
	}
	if got := api.status(allocs[0].Name).Announcers; len(got) != 0 || api.count() != 1 {
		t.Errorf("with Sure: %d writes, announcers %v; want 1 write and none left", api.count(), got)
	}
}
