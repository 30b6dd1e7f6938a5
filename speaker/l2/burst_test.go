package l2

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// linuxLocktime is the default of net.ipv4.neigh.*.locktime (100 jiffies = 1 s).
const linuxLocktime = time.Second

func TestGARPSchedule(t *testing.T) {
	got := garpSchedule(garpSpan, garpGap)
	if diff := cmp.Diff([]time.Duration{0, 1100 * time.Millisecond, 2200 * time.Millisecond,
		3300 * time.Millisecond, 4400 * time.Millisecond, 5500 * time.Millisecond}, got); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}
	// The properties the schedule exists for, so that a change of constants keeps them.
	if got[0] != 0 {
		t.Errorf("first packet at %v, want at once", got[0])
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i] - got[i-1]; gap <= linuxLocktime {
			t.Errorf("packets %d and %d are %v apart, want more than Linux's locktime %v", i-1, i, gap, linuxLocktime)
		}
	}
	if last := got[len(got)-1]; last < 5*time.Second {
		t.Errorf("last packet at %v, want repeats for at least 5 s", last)
	}
	if diff := cmp.Diff([]time.Duration{0}, garpSchedule(time.Second, 0)); diff != "" {
		t.Errorf("schedule with no gap (-want +got):\n%s", diff)
	}
}

// runBurst sends at exactly the scheduled offsets, driven by a fake clock.
func TestRunBurstFollowsSchedule(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	start := clk.Now()
	schedule := garpSchedule(garpSpan, garpGap)
	sent := make(chan time.Duration, len(schedule))
	done := make(chan struct{})
	go func() {
		defer close(done)
		runBurst(context.Background(), clk, schedule, func() error { sent <- clk.Since(start); return nil }, ktesting.NewLogger(t, ktesting.NewConfig()))
	}()
	var got []time.Duration
	for len(got) < len(schedule) {
		select {
		case d := <-sent:
			got = append(got, d)
		case <-done:
			t.Fatalf("burst ended after %v, want %v", got, schedule)
		case <-time.After(5 * time.Millisecond):
			if clk.HasWaiters() {
				clk.Step(100 * time.Millisecond)
			}
		}
	}
	<-done
	if diff := cmp.Diff(schedule, got); diff != "" {
		t.Errorf("sent at (-want +got):\n%s", diff)
	}
}

func TestRunBurstStopsOnCancel(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runBurst(ctx, clk, garpSchedule(garpSpan, garpGap), func() error { sent <- struct{}{}; return nil }, ktesting.NewLogger(t, ktesting.NewConfig()))
	}()
	<-sent
	testkit.EventuallyTrue(t, wait, waitEvery, "the burst to wait for its next round", clk.HasWaiters)
	cancel()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("burst did not stop on cancel")
	}
	clk.Step(10 * time.Second)
	if len(sent) != 0 {
		t.Errorf("%d packets sent after cancel", len(sent))
	}
}

func TestRetryDelay(t *testing.T) {
	var got []time.Duration
	for i := range 7 {
		got = append(got, retryDelay(i, 10*time.Second))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if d := retryDelay(1000, 10*time.Second); d != 10*time.Second {
		t.Errorf("retryDelay(1000) = %v, want the cap", d)
	}
}
