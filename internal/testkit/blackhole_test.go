package testkit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A call hangs until its context ends or the release, which lets every later call through and
// may come twice; AwaitCall sees a call that began.
func TestBlackhole(t *testing.T) {
	b := NewBlackhole()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call before the release ended with %v, want its deadline", err)
	}
	b.AwaitCall(t, time.Second, "call")

	done := make(chan error, 1)
	go func() { done <- b.Wait(t.Context()) }()
	b.AwaitCall(t, time.Second, "second call")
	b.Release()
	b.Release()
	if err := <-done; err != nil {
		t.Fatalf("the held call ended with %v after the release, want nil", err)
	}
	if err := b.Wait(t.Context()); err != nil {
		t.Fatalf("a call after the release ended with %v, want nil", err)
	}
}
