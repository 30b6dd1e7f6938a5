package testkit

import (
	"context"
	"sync"
	"time"
)

// Blackhole is the part of a fake API server that answers as a blackholed one does (packets
// dropped, not refused): each call that Waits hangs until its context ends or the test Releases
// it. The fakes of the tests of writes that must not hold anything up share it.
type Blackhole struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewBlackhole returns a Blackhole that holds every call until Release.
func NewBlackhole() *Blackhole {
	return &Blackhole{started: make(chan struct{}, 1), release: make(chan struct{})}
}

// Wait is where a fake's call hangs: it returns nil once released (the call then goes through),
// or ctx's error when ctx ends first.
func (b *Blackhole) Wait(ctx context.Context) error {
	select {
	case b.started <- struct{}{}:
	default: // one waiting is enough for AwaitCall
	}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release lets every call through, now and from then on; it may be called more than once.
func (b *Blackhole) Release() { b.once.Do(func() { close(b.release) }) }

// AwaitCall fails t unless a call begins to Wait within timeout (what names the call).
func (b *Blackhole) AwaitCall(t TB, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", what, timeout)
	}
}
