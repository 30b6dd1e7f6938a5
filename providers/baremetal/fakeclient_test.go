package baremetal

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

var allocGR = schema.GroupResource{Group: "frontdesk.dev", Resource: "ipallocations"}

// fakeAllocations models the API server's semantics for IPAllocation objects: names are unique
// (Create is a lock), every write bumps the resourceVersion, an Update or a Delete with a stale
// resourceVersion or UID precondition is a Conflict. failNext injects an error into the next calls.
type fakeAllocations struct {
	mu       sync.Mutex
	objs     map[string]*v1alpha1.IPAllocation
	rv       int
	failNext []error
	writes   int // successful writes
	mutating int // Create, Update and Delete calls, whatever their outcome
}

func newFakeAllocations() *fakeAllocations {
	return &fakeAllocations{objs: map[string]*v1alpha1.IPAllocation{}}
}

func (f *fakeAllocations) fault() error {
	if len(f.failNext) == 0 {
		return nil
	}
	err := f.failNext[0]
	f.failNext = f.failNext[1:]
	return err
}

func (f *fakeAllocations) Create(_ context.Context, obj *v1alpha1.IPAllocation, _ metav1.CreateOptions) (*v1alpha1.IPAllocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mutating++
	if err := f.fault(); err != nil {
		return nil, err
	}
	if _, ok := f.objs[obj.Name]; ok {
		return nil, apierrors.NewAlreadyExists(allocGR, obj.Name)
	}
	if obj.Name != v1alpha1.IPAllocationName(mustAddr(obj.Spec.Address)) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("name %q does not encode %s", obj.Name, obj.Spec.Address))
	}
	f.rv++
	f.writes++
	c := obj.DeepCopy()
	c.ResourceVersion = strconv.Itoa(f.rv)
	c.UID = types.UID("uid-" + strconv.Itoa(f.rv))
	f.objs[c.Name] = c
	return c.DeepCopy(), nil
}

func (f *fakeAllocations) Get(_ context.Context, name string, _ metav1.GetOptions) (*v1alpha1.IPAllocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(); err != nil {
		return nil, err
	}
	o, ok := f.objs[name]
	if !ok {
		return nil, apierrors.NewNotFound(allocGR, name)
	}
	return o.DeepCopy(), nil
}

func (f *fakeAllocations) Update(_ context.Context, obj *v1alpha1.IPAllocation, _ metav1.UpdateOptions) (*v1alpha1.IPAllocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mutating++
	if err := f.fault(); err != nil {
		return nil, err
	}
	cur, ok := f.objs[obj.Name]
	if !ok {
		return nil, apierrors.NewNotFound(allocGR, obj.Name)
	}
	if cur.ResourceVersion != obj.ResourceVersion {
		return nil, apierrors.NewConflict(allocGR, obj.Name, fmt.Errorf("resourceVersion %s is stale", obj.ResourceVersion))
	}
	if cur.Spec.Address != obj.Spec.Address || cur.Spec.Pool != obj.Spec.Pool {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: "frontdesk.dev", Kind: "IPAllocation"}, obj.Name, nil)
	}
	f.rv++
	f.writes++
	c := obj.DeepCopy()
	c.ResourceVersion = strconv.Itoa(f.rv)
	c.UID = cur.UID
	f.objs[c.Name] = c
	return c.DeepCopy(), nil
}

func (f *fakeAllocations) Delete(_ context.Context, name string, opts metav1.DeleteOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mutating++
	if err := f.fault(); err != nil {
		return err
	}
	cur, ok := f.objs[name]
	if !ok {
		return apierrors.NewNotFound(allocGR, name)
	}
	if p := opts.Preconditions; p != nil {
		if (p.UID != nil && *p.UID != cur.UID) || (p.ResourceVersion != nil && *p.ResourceVersion != cur.ResourceVersion) {
			return apierrors.NewConflict(allocGR, name, fmt.Errorf("precondition failed"))
		}
	}
	f.writes++
	delete(f.objs, name)
	return nil
}

// holders returns, per address, the Services holding it.
func (f *fakeAllocations) holders() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, o := range f.objs {
		for _, r := range o.Spec.Services {
			out[o.Spec.Address] = append(out[o.Spec.Address], r.Namespace+"/"+r.Name)
		}
	}
	return out
}

// byService makes the fake its own informer cache: it always shows the latest state, which is the
// cache's best case; tests of cache lag empty it explicitly with lagging.
func (f *fakeAllocations) byService(namespace, name string) []*v1alpha1.IPAllocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*v1alpha1.IPAllocation
	for _, o := range f.objs {
		for _, r := range o.Spec.Services {
			if r.Namespace == namespace && r.Name == name {
				out = append(out, o.DeepCopy())
				break
			}
		}
	}
	return out
}

func (f *fakeAllocations) list() []*v1alpha1.IPAllocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*v1alpha1.IPAllocation
	for _, o := range f.objs {
		out = append(out, o.DeepCopy())
	}
	return out
}
