package proxy

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

// TestStoreIgnoresSameVersion: an informer re-delivering the objects it holds (a new list after a
// broken watch) changes nothing, so the next sync does not rewrite every Service; a new version
// of an object does count.
func TestStoreIgnoresSameVersion(t *testing.T) {
	changed := make(chan struct{}, 1)
	s := newStore(func() { pokeChan(changed) }, func() {})
	svc := newService("web", clusterIP("10.96.0.10"))
	svc.ResourceVersion = "7"
	es := newSlice("web", "web-1", v1.ProtocolTCP, remote1)
	es.ResourceVersion = "8"
	s.setService(svc)
	s.setSlice(es)
	if snap := s.take(false); len(snap.keys) != 1 {
		t.Fatalf("first delivery: %d changed Services, want 1", len(snap.keys))
	}
	<-changed

	s.setService(svc.DeepCopy())
	s.setSlice(es.DeepCopy())
	if snap := s.take(false); len(snap.keys) != 0 {
		t.Errorf("the same versions again: %d changed Services, want 0", len(snap.keys))
	}
	select {
	case <-changed:
		t.Error("the same versions again asked for a sync")
	default:
	}

	newer := es.DeepCopy()
	newer.ResourceVersion = "9"
	s.setSlice(newer)
	if snap := s.take(false); len(snap.keys) != 1 || snap.slices[snap.keys[0]][0] != newer {
		t.Errorf("a new EndpointSlice version: %v, want web changed with the new slice", snap.keys)
	}
}
