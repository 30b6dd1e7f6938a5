package baremetal

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClaimAndRelease(t *testing.T) {
	ctx := context.Background()
	a, b, c := refOf("default", "a", "uid-a"), refOf("default", "b", "uid-b"), refOf("other", "c", "uid-c")
	x := mustAddr("198.51.100.7")

	f := newFakeAllocations()
	s := &claimStore{client: f}
	if err := s.claim(ctx, x, "blue", "", false, a, ""); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := s.claim(ctx, x, "blue", "", false, a, ""); err != nil {
		t.Fatalf("claim is not idempotent: %v", err)
	}
	var ce *ClaimedError
	if err := s.claim(ctx, x, "blue", "", false, b, ""); !errors.As(err, &ce) {
		t.Fatalf("claim of a held address without sharing key: err = %v, want *ClaimedError", err)
	}

	// Sharing: two Services with the same key hold one address; a third with another key cannot.
	y := mustAddr("2001:db8::7")
	for _, r := range []struct {
		ref  string
		err  bool
		key  string
		call func() error
	}{
		{ref: "a", call: func() error { return s.claim(ctx, y, "blue", "k", false, a, "") }},
		{ref: "b", call: func() error { return s.claim(ctx, y, "blue", "k", false, b, "") }},
		{ref: "c", err: true, call: func() error { return s.claim(ctx, y, "blue", "other", false, c, "") }},
	} {
		if err := r.call(); (err != nil) != r.err {
			t.Fatalf("claim %s: err = %v, want error %v", r.ref, err, r.err)
		}
	}
	want := map[string][]string{"198.51.100.7": {"default/a"}, "2001:db8::7": {"default/a", "default/b"}}
	if diff := cmp.Diff(want, f.holders()); diff != "" {
		t.Fatalf("holders (-want +got):\n%s", diff)
	}

	// A re-created Service (same name, new UID) does not release its predecessor's claim.
	if err := s.release(ctx, y, refOf("default", "a", "uid-new"), serviceGone); err != nil {
		t.Fatal(err)
	}
	if err := s.release(ctx, y, a, serviceGone); err != nil {
		t.Fatal(err)
	}
	if err := s.release(ctx, y, b, serviceGone); err != nil {
		t.Fatal(err)
	}
	if err := s.release(ctx, x, a, serviceGone); err != nil {
		t.Fatal(err)
	}
	if err := s.release(ctx, x, a, serviceGone); err != nil {
		t.Fatalf("release is not idempotent: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{}, f.holders()); diff != "" {
		t.Fatalf("holders after release (-want +got):\n%s", diff)
	}
}

func TestClaimStaleEntryOfSameName(t *testing.T) {
	ctx := context.Background()
	f := newFakeAllocations()
	s := &claimStore{client: f}
	x := mustAddr("198.51.100.8")
	if err := s.claim(ctx, x, "blue", "", false, refOf("default", "a", "old"), ""); err != nil {
		t.Fatal(err)
	}
	// The Service was deleted and re-created before the release happened: the new one takes over.
	if err := s.claim(ctx, x, "blue", "", false, refOf("default", "a", "new"), ""); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Get(ctx, "198.51.100.8", metaGet)
	if len(got.Spec.Services) != 1 || got.Spec.Services[0].UID != "new" {
		t.Fatalf("holders = %+v, want only the new Service", got.Spec.Services)
	}
	// Same name, but the stale claim was from another pool: the object is replaced.
	if err := s.claim(ctx, x, "green", "", false, refOf("default", "a", "newer"), ""); err != nil {
		t.Fatal(err)
	}
	got, _ = f.Get(ctx, "198.51.100.8", metaGet)
	if got.Spec.Pool != "green" || got.Spec.Services[0].UID != "newer" {
		t.Fatalf("object = %+v, want pool green held by the newer Service", got.Spec)
	}
}

// Two controllers that pick the same address at once: exactly one wins, whatever the interleaving.
func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	ctx := context.Background()
	for i := range 50 {
		f := newFakeAllocations()
		x := mustAddr("198.51.100.9")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := &claimStore{client: f}
				errs[j] = s.claim(ctx, x, "blue", "", false, refOf("default", string(rune('a'+j)), "uid"), "")
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: errors %v and %v, want exactly one winner", i, errs[0], errs[1])
		}
		if n := len(f.holders()["198.51.100.9"]); n != 1 {
			t.Fatalf("round %d: %d holders, want 1", i, n)
		}
	}
}

func TestClaimPassesOnAPIErrors(t *testing.T) {
	f := newFakeAllocations()
	boom := apierrors.NewServiceUnavailable("etcd is away")
	f.failNext = []error{boom}
	s := &claimStore{client: f}
	err := s.claim(context.Background(), mustAddr("198.51.100.10"), "blue", "", false, refOf("default", "a", "u"), "")
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("err = %v, want the API error passed on", err)
	}
	if len(f.holders()) != 0 {
		t.Fatal("a failed claim left an object behind")
	}
	f.failNext = []error{apierrors.NewConflict(schema.GroupResource{}, "x", errors.New("c"))}
	if err := s.release(context.Background(), mustAddr("198.51.100.10"), refOf("default", "a", "u"), serviceGone); !apierrors.IsConflict(err) {
		t.Fatalf("release err = %v, want the conflict from Get passed on", err)
	}
}

// Issue 17: between controller replicas too, a key is its namespace's own unless the pool allows
// sharing across namespaces, and the refusal names no Service of another namespace nor its key.
func TestClaimKeepsSharingInANamespace(t *testing.T) {
	ctx := context.Background()
	a, b, b2 := refOf("tenant-a", "web", "uid-a"), refOf("tenant-b", "api", "uid-b"), refOf("tenant-b", "db", "uid-b2")
	x, y := mustAddr("198.51.100.7"), mustAddr("198.51.100.8")
	s := &claimStore{client: newFakeAllocations()}
	for _, a0 := range []struct {
		addr   string
		across bool
	}{{"198.51.100.7", false}, {"198.51.100.8", true}} {
		if err := s.claim(ctx, mustAddr(a0.addr), "blue", "secret", a0.across, a, ""); err != nil {
			t.Fatal(err)
		}
	}
	var ce *ClaimedError
	err := s.claim(ctx, x, "blue", "secret", false, b, "")
	if !errors.As(err, &ce) {
		t.Fatalf("claim across namespaces in a pool that does not allow it: err = %v, want *ClaimedError", err)
	}
	if want := "address 198.51.100.7 is already held by a Service of another namespace"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := s.claim(ctx, y, "blue", "secret", true, b, ""); err != nil {
		t.Fatalf("claim across namespaces in a pool that allows it: %v", err)
	}
	err = s.claim(ctx, y, "blue", "other", true, b2, "")
	if want := "address 198.51.100.8 is already held by tenant-b/api and a Service of another namespace"; err == nil || err.Error() != want {
		t.Errorf("message %v, want %q", err, want)
	}
}
