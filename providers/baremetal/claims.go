package baremetal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// ipAllocations is the part of the IPAllocation client the claim store uses; the typed client
// satisfies it, and so does the stateful fake of the unit tests.
type ipAllocations interface {
	Create(ctx context.Context, obj *v1alpha1.IPAllocation, opts metav1.CreateOptions) (*v1alpha1.IPAllocation, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.IPAllocation, error)
	Update(ctx context.Context, obj *v1alpha1.IPAllocation, opts metav1.UpdateOptions) (*v1alpha1.IPAllocation, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// claimStore keeps the allocation truth in the API server: one IPAllocation per address, created
// before any Service status names the address. Create is the lock between controllers; joining or
// leaving a shared address is an Update guarded by resourceVersion.
//
// Two controller replicas may act at once (a lease handed over without fencing). The rule that
// keeps an address out of two Services' status is: an address is in a Service's status only while
// an IPAllocation names that Service (by UID), and a Service leaves an IPAllocation only while its
// status does not name the address. A cache can be behind, so the second half is enforced with a
// fence recorded on the IPAllocation itself (see fenceKey) rather than with a read of the Service.
type claimStore struct {
	client ipAllocations
}

// ClaimedError says an address is held in the API server by Services this one cannot join. The
// in-memory allocator did not know (another controller replica took it, or the cache is behind).
//
// The message reaches the asking Service's Event, so it names only the holders of that Service's
// own namespace and never the holders' sharing key (issue 17: a key read from an Event let any
// tenant join another's address).
type ClaimedError struct {
	Addr      netip.Addr
	Holders   []v1alpha1.ServiceRef
	Key       string // the holders' sharing key: for the controller, never for the message
	Namespace string // the asking Service's namespace
}

func (e *ClaimedError) Error() string {
	var own []v1alpha1.ServiceRef
	for _, h := range e.Holders {
		if h.Namespace == e.Namespace {
			own = append(own, h)
		}
	}
	switch {
	case len(own) == 0:
		return fmt.Sprintf("address %s is already held by a Service of another namespace", e.Addr)
	case len(own) < len(e.Holders):
		return fmt.Sprintf("address %s is already held by %s and a Service of another namespace", e.Addr, refsString(own))
	}
	return fmt.Sprintf("address %s is already held by %s, under another sharing key or pool", e.Addr, refsString(own))
}

// fencePrefix starts the annotation, one per holder (keyed by its UID), that records the
// resourceVersion of the Service a pending status write adding this address is preconditioned on.
// The service controller writes the status only if the Service is still at that version. A holder
// may leave the IPAllocation only when the caller has seen a version of the Service, at least
// as new as it, whose status does not name the address (see release): a pending write fenced on an
// older version can no longer succeed, and one fenced later than the release's read of the
// IPAllocation makes the release's preconditioned delete fail.
const fencePrefix = "fence.frontdesk.dev/"

func fenceKey(uid types.UID) string { return fencePrefix + string(uid) }

// serviceState is what a release is checked against: a version of the Service the API server
// really had (from the informer cache, a write's response or a read), and the addresses its status
// named then. Gone says no Service of that UID exists any more: its status can no longer be written.
type serviceState struct {
	gone    bool
	version string
	status  []netip.Addr
}

var serviceGone = serviceState{gone: true}

// errReleaseDeferred says a release was not done, safely: the Service's status may still name the
// address, or a status write adding it may be in flight. A later Ensure or repair pass retries.
var errReleaseDeferred = errors.New("release deferred")

// versionBefore reports whether resourceVersion a is older than b; versions that cannot be
// compared (empty, or not the API server's) are taken as not older, which defers a release.
func versionBefore(a, b string) bool {
	order, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && order < 0
}

// withFence returns annotations with svc's fence raised to version (kept if already newer), and
// whether that changed anything. An empty version (a Service never stored: unit fixtures) sets none.
func withFence(ann map[string]string, uid types.UID, version string) (map[string]string, bool) {
	if version == "" {
		return ann, false
	}
	if cur, ok := ann[fenceKey(uid)]; ok && !versionBefore(cur, version) {
		return ann, false
	}
	out := maps.Clone(ann)
	if out == nil {
		out = map[string]string{}
	}
	out[fenceKey(uid)] = version
	return out, true
}

// withoutFences drops the fences of holders no longer in refs.
func withoutFences(ann map[string]string, refs []v1alpha1.ServiceRef) map[string]string {
	var out map[string]string
	for k, v := range ann {
		if uid, ok := strings.CutPrefix(k, fencePrefix); ok && !slices.ContainsFunc(refs, func(r v1alpha1.ServiceRef) bool { return string(r.UID) == uid }) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// maxConflictRetries bounds optimistic-concurrency retries; a busy shared address converges in a few.
const maxConflictRetries = 5

// claim makes svc a holder of addr in pool. It is idempotent, and replaces a stale holder entry of a
// deleted Service of the same name (other UID). fence is the resourceVersion of the Service that the
// status write adding addr will be preconditioned on, "" when the status already names addr: when
// set, claim writes (or raises) the holder's fence, so that the IPAllocation is known live to name
// svc after the Service was read, and no release can slip in before that status write (see release).
//
// across says the pool lets Services of different namespaces share addr; without it, svc joins
// only holders of its own namespace, whatever the key (the in-memory allocator checks the same;
// this is the check between controller replicas).
func (s *claimStore) claim(ctx context.Context, addr netip.Addr, pool, key string, across bool, svc v1alpha1.ServiceRef, fence string) error {
	name := v1alpha1.IPAllocationName(addr)
	ann, _ := withFence(nil, svc.UID, fence)
	obj := &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec:       v1alpha1.IPAllocationSpec{Address: addr.String(), Pool: pool, SharingKey: key, Services: []v1alpha1.ServiceRef{svc}},
	}
	for range maxConflictRetries {
		_, err := s.client.Create(ctx, obj, metav1.CreateOptions{})
		if err == nil || !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur, err := s.client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // released in between: try the create again
		}
		if err != nil {
			return err
		}
		others := slices.DeleteFunc(slices.Clone(cur.Spec.Services), func(r v1alpha1.ServiceRef) bool {
			return r.Namespace == svc.Namespace && r.Name == svc.Name
		})
		if len(others) == len(cur.Spec.Services)-1 && hasRef(cur.Spec.Services, svc) {
			ann, raise := withFence(cur.Annotations, svc.UID, fence)
			if !raise {
				return nil // already ours, and fenced at least as late
			}
			upd := cur.DeepCopy()
			upd.Annotations = ann
			_, err = s.client.Update(ctx, upd, metav1.UpdateOptions{})
			if err == nil || !apierrors.IsConflict(err) {
				return err
			}
			continue
		}
		foreign := slices.ContainsFunc(others, func(r v1alpha1.ServiceRef) bool { return r.Namespace != svc.Namespace })
		if len(others) > 0 && (key == "" || cur.Spec.SharingKey != key || cur.Spec.Pool != pool || foreign && !across) {
			return &ClaimedError{Addr: addr, Holders: others, Key: cur.Spec.SharingKey, Namespace: svc.Namespace}
		}
		if len(others) == 0 && cur.Spec.Pool != pool {
			// Only a stale entry of our own name held it, from another pool: the pool cannot change
			// on an object, so replace the object.
			if err := s.deleteIfUnchanged(ctx, cur); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return err
			}
			continue
		}
		upd := cur.DeepCopy()
		upd.Spec.Services = append(others, svc) //nolint:gocritic // others is a fresh slice, the holders without svc
		upd.Spec.SharingKey = key
		upd.Annotations, _ = withFence(withoutFences(cur.Annotations, upd.Spec.Services), svc.UID, fence)
		_, err = s.client.Update(ctx, upd, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("claiming %s: the IPAllocation kept changing under %d attempts; will retry", addr, maxConflictRetries)
}

// release removes svc from the holders of addr, deleting the object when no holder is left. The
// UID must match: a Service re-created under the same name does not release its predecessor's
// claim by accident, nor the other way round.
//
// seen is a version of the Service. The release is errReleaseDeferred unless the Service is gone,
// or its status at seen does not name addr and seen is newer than svc's fence on the object. That
// makes it safe however stale seen is: a status write fenced before seen cannot succeed any more
// (the Service has moved past its precondition), one fenced at or after seen is visible here, and
// one fenced after this read of the object makes the preconditioned delete or update below fail.
func (s *claimStore) release(ctx context.Context, addr netip.Addr, svc v1alpha1.ServiceRef, seen serviceState) error {
	name := v1alpha1.IPAllocationName(addr)
	for range maxConflictRetries {
		cur, err := s.client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !hasRef(cur.Spec.Services, svc) {
			return nil
		}
		if !seen.gone {
			if slices.Contains(seen.status, addr) {
				return errReleaseDeferred
			}
			if f, ok := cur.Annotations[fenceKey(svc.UID)]; ok && !versionBefore(f, seen.version) {
				return errReleaseDeferred
			}
		}
		left := slices.DeleteFunc(slices.Clone(cur.Spec.Services), func(r v1alpha1.ServiceRef) bool { return r == svc })
		if len(left) == 0 {
			err = s.deleteIfUnchanged(ctx, cur)
		} else {
			upd := cur.DeepCopy()
			upd.Spec.Services = left
			upd.Annotations = withoutFences(cur.Annotations, left)
			_, err = s.client.Update(ctx, upd, metav1.UpdateOptions{})
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("releasing %s: the IPAllocation kept changing under %d attempts; will retry", addr, maxConflictRetries)
}

// deleteIfUnchanged deletes exactly the version read, so a concurrent join is never lost.
func (s *claimStore) deleteIfUnchanged(ctx context.Context, cur *v1alpha1.IPAllocation) error {
	uid, rv := cur.UID, cur.ResourceVersion
	return s.client.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
}

func hasRef(refs []v1alpha1.ServiceRef, r v1alpha1.ServiceRef) bool { return slices.Contains(refs, r) }

func refOf(namespace, name string, uid types.UID) v1alpha1.ServiceRef {
	return v1alpha1.ServiceRef{Namespace: namespace, Name: name, UID: uid}
}

func refsString(refs []v1alpha1.ServiceRef) string {
	s := ""
	for i, r := range refs {
		if i > 0 {
			s += ", "
		}
		s += r.Namespace + "/" + r.Name
	}
	return s
}
