package baremetal

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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
type claimStore struct {
	client ipAllocations
}

// ClaimedError says an address is held in the API server by Services this one cannot join. The
// in-memory allocator did not know (another controller replica took it, or the cache is behind).
type ClaimedError struct {
	Addr    netip.Addr
	Holders []v1alpha1.ServiceRef
	Key     string
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("address %s is already held by %s (sharing key %q)", e.Addr, refsString(e.Holders), e.Key)
}

// maxConflictRetries bounds optimistic-concurrency retries; a busy shared address converges in a few.
const maxConflictRetries = 5

// claim makes svc a holder of addr in pool. It is idempotent, and replaces a stale holder entry of a
// deleted Service of the same name (other UID).
func (s *claimStore) claim(ctx context.Context, addr netip.Addr, pool, key string, svc v1alpha1.ServiceRef) error {
	name := v1alpha1.IPAllocationName(addr)
	obj := &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
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
			return nil // already ours
		}
		if len(others) > 0 && (key == "" || cur.Spec.SharingKey != key || cur.Spec.Pool != pool) {
			return &ClaimedError{Addr: addr, Holders: others, Key: cur.Spec.SharingKey}
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
func (s *claimStore) release(ctx context.Context, addr netip.Addr, svc v1alpha1.ServiceRef) error {
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
		left := slices.DeleteFunc(slices.Clone(cur.Spec.Services), func(r v1alpha1.ServiceRef) bool { return r == svc })
		if len(left) == 0 {
			err = s.deleteIfUnchanged(ctx, cur)
		} else {
			upd := cur.DeepCopy()
			upd.Spec.Services = left
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
