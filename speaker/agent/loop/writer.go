package loop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/runner"
)

// DefaultWriteTimeout bounds one write of the Writer (issue 17, item 10). An API server that
// takes longer is sick or unreachable: the write is retried later, and nothing waits for it but
// the status.
const DefaultWriteTimeout = 10 * time.Second

// The pause after a pass with a failed write doubles from writeRetryMin up to writeRetryMax: a
// blackholed API server is asked again every few seconds, not in a tight loop, and the status
// catches up within writeRetryMax (plus one write) of its return.
const (
	writeRetryMin = 500 * time.Millisecond
	writeRetryMax = 5 * time.Second
)

// Writes takes the writes of the speaker's status to the API server: per key, only the latest
// asked for is made. The BGP protocol writes its BGPPeer sessions through the loop's Writer.
type Writes interface {
	// Put asks for write under key, replacing one asked for earlier and not made yet; it never
	// blocks on the API server.
	Put(key string, write func(context.Context) error)
}

// Writer makes the speaker's writes to the API server (the IPAllocation status, BGPPeer
// sessions) off the announce path, in a goroutine of its own (Run): a run of the loop asks for a
// write and goes on announcing. When the API server is blackholed, packets dropped rather than
// refused, each write would otherwise hang until the connection's health check gives up (tens of
// seconds), and the next failover or withdrawal would wait behind it.
//
// Per key it keeps the latest write asked for (coalescing: a status that changed three times
// while the API server was away is written once, as it is now), makes each within its timeout,
// and retries those that failed after a pause that grows with each failed pass. A pass stops at
// the first write that timed out: the others would most likely time out too, one after another.
type Writer struct {
	log     klog.Logger
	timeout time.Duration
	runner  *runner.Runner
	// busy is held by a pass: the runner's and Flush's never overlap. A channel of one, not a
	// mutex, so that Flush gives up when its context ends.
	busy chan struct{}

	mu      sync.Mutex
	pending map[string]pendingWrite
	seq     uint64
}

type pendingWrite struct {
	seq   uint64 // to tell, after the write, whether a newer one replaced it meanwhile
	write func(context.Context) error
}

var _ Writes = (*Writer)(nil)

// NewWriter returns a Writer whose writes each get timeout (0: DefaultWriteTimeout); nothing is
// written before Run or Flush.
func NewWriter(timeout time.Duration, log klog.Logger) *Writer {
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	if log.GetSink() == nil {
		log = klog.Background()
	}
	w := &Writer{log: log.WithName("writer"), timeout: timeout, busy: make(chan struct{}, 1), pending: map[string]pendingWrite{}}
	w.runner = runner.New("status-writer", w.pass, runner.Options{RetryMin: writeRetryMin, RetryMax: writeRetryMax})
	return w
}

// Put asks for write under key; see Writes.
func (w *Writer) Put(key string, write func(context.Context) error) {
	w.mu.Lock()
	w.seq++
	w.pending[key] = pendingWrite{seq: w.seq, write: write}
	w.mu.Unlock()
	w.runner.Run()
}

// Pending is how many keys wait for their write.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// Run makes the writes asked for until ctx ends.
func (w *Writer) Run(ctx context.Context) { w.runner.Loop(ctx) }

// Flush makes the writes pending now, once, within ctx (after a pass under way): the last writes
// on shutdown. It returns the first failures.
func (w *Writer) Flush(ctx context.Context) error { return w.pass(ctx) }

// pass makes every pending write once, in key order.
func (w *Writer) pass(ctx context.Context) error {
	select {
	case w.busy <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.busy }()

	w.mu.Lock()
	keys := make([]string, 0, len(w.pending))
	todo := make(map[string]pendingWrite, len(w.pending))
	for k, p := range w.pending {
		keys = append(keys, k)
		todo[k] = p
	}
	w.mu.Unlock()
	slices.Sort(keys)

	var errs []error
	for i, k := range keys {
		p := todo[k]
		wctx, cancel := context.WithTimeout(ctx, w.timeout)
		start := time.Now()
		err := p.write(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		if err == nil {
			w.mu.Lock()
			if w.pending[k].seq == p.seq {
				delete(w.pending, k)
			}
			w.mu.Unlock()
			continue
		}
		errs = append(errs, err)
		if timedOut || ctx.Err() != nil {
			if left := len(keys) - i - 1; left > 0 {
				errs = append(errs, fmt.Errorf("%d more writes left for the retry: the API server did not answer within %v", left, time.Since(start).Round(time.Millisecond)))
			}
			break
		}
	}
	err := errors.Join(errs...)
	if err != nil && ctx.Err() == nil {
		w.log.Error(err, "status writes failed; retrying", "pending", w.Pending())
	}
	return err
}
