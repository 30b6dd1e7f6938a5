package runner

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// The tests run in a synctest bubble, so that synctest.Wait proves the Loop idle (blocked on its
// timer or on a request) before a count is read; time moves only by the fake clock's Step.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type harness struct {
	t   *testing.T
	clk *clocktesting.FakeClock
	r   *Runner

	mu     sync.Mutex
	starts []time.Duration // since t0
	errs   []error         // what the runs return, in order; nil past the end
}

// start runs a Runner with opt in the background until the test ends. block, when not nil, is
// received from in each run: the test holds a run open with it.
func start(t *testing.T, opt Options, block chan struct{}) *harness {
	h := &harness{t: t, clk: clocktesting.NewFakeClock(t0)}
	opt.Clock = h.clk
	h.r = New("test", func(context.Context) error {
		h.mu.Lock()
		n := len(h.starts)
		h.starts = append(h.starts, h.clk.Since(t0))
		var err error
		if n < len(h.errs) {
			err = h.errs[n]
		}
		h.mu.Unlock()
		if block != nil {
			<-block
		}
		return err
	}, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.r.Loop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	synctest.Wait()
	return h
}

// step moves the fake clock by d once the Loop has taken in what came before, and waits for it
// to be idle again.
func (h *harness) step(d time.Duration) {
	synctest.Wait()
	h.clk.Step(d)
	synctest.Wait()
}

func (h *harness) runs() []time.Duration {
	synctest.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.starts)
}

func (h *harness) want(what string, want ...time.Duration) {
	h.t.Helper()
	if got := h.runs(); !slices.Equal(got, want) {
		h.t.Fatalf("%s: runs started at %v, want %v", what, got, want)
	}
}

func TestBurstOfRequestsIsOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: time.Second}, nil)
		h.want("before any request")
		for range 10 {
			h.r.Run()
		}
		h.want("ten requests at once", 0)
		h.step(time.Hour)
		h.want("an hour later, nothing asked", 0)
	})
}

func TestMinInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: time.Second}, nil)
		h.r.Run()
		h.want("the first request", 0)
		h.step(300 * time.Millisecond)
		h.r.Run()
		h.step(300 * time.Millisecond)
		h.r.Run()
		h.step(399 * time.Millisecond)
		h.want("two requests within MinInterval of the run", 0)
		h.step(time.Millisecond)
		h.want("MinInterval after the first run", 0, time.Second)
	})
}

func TestBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: 4 * time.Second, Burst: 2}, nil)
		h.r.Run()
		synctest.Wait()
		h.r.Run()
		h.want("two runs back to back", 0, 0)
		h.r.Run()
		h.step(4*time.Second - time.Millisecond)
		h.want("a third within the interval", 0, 0)
		h.step(time.Millisecond)
		h.want("a third once a token is back", 0, 0, 4*time.Second)
		h.step(time.Minute) // both tokens back
		h.r.Run()
		synctest.Wait()
		h.r.Run()
		h.want("the burst again after a quiet minute", 0, 0, 4*time.Second, 64*time.Second, 64*time.Second)
	})
}

func TestRetryBacksOffAndResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: 100 * time.Millisecond, RetryMin: time.Second, RetryMax: 4 * time.Second}, nil)
		fail := errors.New("fail")
		// Four failures, a success, then one more failure.
		h.errs = []error{fail, fail, fail, fail, nil, fail}
		h.r.Run()
		h.want("the first run", 0)
		// Pauses of 1, 2, 4 and (at most RetryMax) 4 s, counted from each failure.
		var want []time.Duration
		at := time.Duration(0)
		want = append(want, at)
		for _, pause := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			h.r.Run() // no request cuts a pause short
			h.step(pause - time.Millisecond)
			h.want("during the pause", want...)
			h.step(time.Millisecond)
			at += pause
			want = append(want, at)
			h.want("at the end of the pause", want...)
		}
		// The fifth run succeeded: the next request runs after MinInterval only, and its failure
		// pauses RetryMin again.
		h.step(time.Minute)
		h.r.Run()
		at += time.Minute
		want = append(want, at)
		h.want("a request after a success", want...)
		h.step(time.Second)
		at += time.Second
		want = append(want, at)
		h.want("a retry RetryMin after the failure that followed a success", want...)
		h.step(time.Hour)
		h.want("nothing after a successful retry", want...)
	})
}

func TestRetryWithoutPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: time.Second}, nil)
		h.errs = []error{errors.New("fail")}
		h.r.Run()
		h.step(time.Second)
		h.want("a failed run is asked for again", 0, time.Second)
		h.step(time.Hour)
		h.want("nothing after the successful retry", 0, time.Second)
	})
}

func TestRunDuringARunIsOneMore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make(chan struct{})
		h := start(t, Options{MinInterval: time.Second}, block)
		h.r.Run()
		h.want("the first run, held open", 0)
		for range 5 {
			h.r.Run()
		}
		h.step(2 * time.Second) // past MinInterval while the run is still open
		block <- struct{}{}
		h.want("the second run right after the first ends", 0, 2*time.Second)
		block <- struct{}{}
		h.step(time.Hour)
		h.want("exactly one more run", 0, 2*time.Second)
	})
}

func TestRunAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: time.Second}, nil)
		h.r.RunAfter(10 * time.Second)
		h.r.RunAfter(20 * time.Second) // the earlier deadline holds
		h.step(10*time.Second - time.Millisecond)
		h.want("before the deadline")
		h.step(time.Millisecond)
		h.want("at the deadline", 10*time.Second)
		h.step(time.Hour)
		h.want("one run for both deadlines", 10*time.Second)

		// A run that starts before a deadline covers it.
		h.r.RunAfter(5 * time.Second)
		h.step(time.Second)
		h.r.Run()
		h.step(time.Hour)
		h.want("a request before the deadline", 10*time.Second, time.Hour+10*time.Second+time.Second)
	})
}

func TestExpedite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: 4 * time.Second, ExpediteInterval: 400 * time.Millisecond}, nil)
		h.r.Run()
		h.want("the first run", 0)
		h.r.Run() // waits for the ordinary pace: 4 s
		h.step(time.Second)
		h.want("an ordinary request within MinInterval", 0)
		h.r.Expedite()
		h.want("an expedited request cuts the wait short", 0, time.Second)
		h.r.Expedite()
		h.step(400*time.Millisecond - time.Millisecond)
		h.want("a second expedited request within ExpediteInterval", 0, time.Second)
		h.step(time.Millisecond)
		h.want("the second expedited run", 0, time.Second, 1400*time.Millisecond)
		// The ordinary pace was left alone: a request now runs 4 s after the first run.
		h.r.Run()
		h.step(4*time.Second - 1400*time.Millisecond - time.Millisecond)
		h.want("an ordinary request after the expedited runs", 0, time.Second, 1400*time.Millisecond)
		h.step(time.Millisecond)
		h.want("the ordinary run, on its own pace", 0, time.Second, 1400*time.Millisecond, 4*time.Second)
	})
}

func TestExpediteWaitsOutAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{MinInterval: time.Second, RetryMin: 10 * time.Second}, nil)
		h.errs = []error{errors.New("fail")}
		h.r.Run()
		h.r.Expedite()
		h.step(10*time.Second - time.Millisecond)
		h.want("during the pause", 0)
		h.step(time.Millisecond)
		h.want("at its end", 0, 10*time.Second)
	})
}

func TestLoopReturnsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		r := New("test", func(context.Context) error { return nil }, Options{MinInterval: time.Hour, Clock: clk})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Loop(ctx) }()
		r.Run()
		synctest.Wait()
		r.Run() // waits an hour for its turn
		synctest.Wait()
		cancel()
		synctest.Wait() // no fake time passes: Loop must not need any to return
		select {
		case <-done:
		default:
			t.Fatal("Loop did not return once its context ended")
		}
	})
}
