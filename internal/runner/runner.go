// Package runner runs one function on request, coalescing requests and pacing the runs: the
// speaker's loop, the node proxy and the IPPool status writer each have one. Requests that come
// while a run is pending join it; one that comes during a run asks for exactly one more. Runs
// never overlap, so fn needs no lock against itself.
//
// The model is kube-proxy's BoundedFrequencyRunner, without its periodic run (the proxy's full
// resync keeps a period of its own, counted from the last full sync, not from any run), and with
// two additions the users need: RunAfter (a run at a time of the caller's choosing, for state
// that goes stale by itself) and Expedite (a run that does not wait out MinInterval, for a change
// that something outside waits for).
package runner

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Options pace the runs. The zero value runs fn as soon as asked, one run at a time.
type Options struct {
	// MinInterval is the least time between the starts of two runs once Burst runs have started
	// back to back; requests meanwhile coalesce into one run.
	MinInterval time.Duration
	// Burst is how many runs may start back to back before MinInterval applies (0 counts as 1):
	// a change right after a run is not held back a whole interval, while a storm of changes
	// still costs one run per interval once the burst is spent.
	Burst int
	// RetryMin and RetryMax bound the pause after a failed run, which doubles with each failure
	// in a row from RetryMin up to RetryMax and resets on a success. No run starts during the
	// pause, whatever asks; one starts at its end. RetryMin 0: a failed run is asked for again
	// like Run does, with no pause but MinInterval.
	RetryMin, RetryMax time.Duration
	// ExpediteInterval is the least time between the starts of two expedited runs (Expedite).
	ExpediteInterval time.Duration
	// Clock; nil means the real one.
	Clock clock.Clock
}

// Runner runs fn on request; see the package doc.
type Runner struct {
	name string
	fn   func(context.Context) error
	opt  Options
	wake chan struct{} // one token: the state below changed, Loop is to look again

	mu        sync.Mutex
	pending   bool      // Run or Expedite since the last run started
	expedite  bool      // Expedite since the last run started
	by        time.Time // RunAfter's earliest deadline since the last run started (zero: none)
	ordinary  pace
	expedited pace
	hold      time.Time // the end of the pause after a failure (zero: none)
	failures  int       // failed runs in a row
}

// New returns a runner of fn; nothing runs before Loop. name is only for the logs.
func New(name string, fn func(context.Context) error, opt Options) *Runner {
	if opt.Burst < 1 {
		opt.Burst = 1
	}
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = opt.RetryMin
	}
	if opt.Clock == nil {
		opt.Clock = clock.RealClock{}
	}
	return &Runner{
		name: name, fn: fn, opt: opt, wake: make(chan struct{}, 1),
		ordinary:  pace{interval: opt.MinInterval, burst: opt.Burst},
		expedited: pace{interval: opt.ExpediteInterval, burst: 1},
	}
}

// Run asks for a run, as soon as MinInterval and a failure's pause allow.
func (r *Runner) Run() {
	r.mu.Lock()
	r.pending = true
	r.mu.Unlock()
	r.nudge()
}

// Expedite asks for a run that need not wait out MinInterval: it waits only for
// ExpediteInterval since the last expedited run, and for a failure's pause. Unless MinInterval
// allows the run anyway, it leaves the ordinary pace alone, so that expedited runs do not delay
// the others.
func (r *Runner) Expedite() {
	r.mu.Lock()
	r.pending, r.expedite = true, true
	r.mu.Unlock()
	r.nudge()
}

// RunAfter asks for a run d from now, or at any run that starts before then.
func (r *Runner) RunAfter(d time.Duration) {
	r.mu.Lock()
	if at := r.opt.Clock.Now().Add(d); r.by.IsZero() || at.Before(r.by) {
		r.by = at
	}
	r.mu.Unlock()
	r.nudge()
}

func (r *Runner) nudge() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Loop runs fn as asked until ctx ends. A run under way when it ends is waited for: fn gets ctx,
// and is expected to return soon once it is done.
func (r *Runner) Loop(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		at, asked := r.due()
		wait := at.Sub(r.opt.Clock.Now())
		r.mu.Unlock()
		if asked && wait <= 0 {
			r.run(ctx)
			continue
		}
		var timer clock.Timer
		var fire <-chan time.Time
		if asked {
			timer = r.opt.Clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// due says when the next run may start, and whether any is asked for. The caller holds mu.
func (r *Runner) due() (time.Time, bool) {
	var ask time.Time
	asked := false
	want := func(t time.Time) {
		if !asked || t.Before(ask) {
			ask, asked = t, true
		}
	}
	if r.pending {
		want(time.Time{})
	}
	if !r.by.IsZero() {
		want(r.by)
	}
	allowed := r.ordinary.next()
	if r.expedite && r.expedited.next().Before(allowed) {
		allowed = r.expedited.next()
	}
	return latest(ask, allowed, r.hold), asked
}

func (r *Runner) run(ctx context.Context) {
	r.mu.Lock()
	now := r.opt.Clock.Now()
	if r.ordinary.next().After(now) {
		r.expedited.spend(now) // due() let it start early: only Expedite does that
	} else {
		r.ordinary.spend(now)
	}
	r.pending, r.expedite, r.by = false, false, time.Time{}
	r.mu.Unlock()

	err := r.fn(ctx)

	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.failures, r.hold = 0, time.Time{}
		return
	}
	r.failures++
	r.pending = true
	if r.opt.RetryMin > 0 {
		d := r.opt.RetryMin
		for i := 1; i < r.failures && d < r.opt.RetryMax; i++ {
			d *= 2
		}
		d = min(d, r.opt.RetryMax)
		r.hold = r.opt.Clock.Now().Add(d)
		klog.FromContext(ctx).V(4).Info("Run failed; retrying after a pause", "runner", r.name, "failures", r.failures, "pause", d, "err", err)
	}
}

// pace lets runs start interval apart on average and burst of them back to back: a token bucket
// kept as the time at which it is full again.
type pace struct {
	interval time.Duration
	burst    int
	full     time.Time
}

// next is when a run may start: when the bucket holds a token again.
func (p *pace) next() time.Time {
	return p.full.Add(-time.Duration(p.burst-1) * p.interval)
}

func (p *pace) spend(now time.Time) {
	p.full = latest(p.full, now).Add(p.interval)
}

func latest(t time.Time, more ...time.Time) time.Time {
	for _, u := range more {
		if u.After(t) {
			t = u
		}
	}
	return t
}
