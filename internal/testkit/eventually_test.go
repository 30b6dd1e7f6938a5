package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a TB that records a failure instead of ending the test.
type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	if r.failed == "" {
		r.failed = fmt.Sprintf(format, args...)
	}
}

func TestEventuallyHolds(t *testing.T) {
	calls := 0
	took := Eventually(t, time.Second, time.Millisecond, func() string {
		if calls++; calls < 5 {
			return fmt.Sprintf("call %d", calls)
		}
		return ""
	})
	if calls != 5 || took <= 0 || took > 500*time.Millisecond {
		t.Errorf("cond called %d times, took %v; want 5 calls, well under the timeout", calls, took)
	}
}

func TestEventuallyFailsWithTheLastComplaint(t *testing.T) {
	var r recorder
	calls := 0
	start := time.Now()
	Eventually(&r, 50*time.Millisecond, 10*time.Millisecond, func() string {
		calls++
		return fmt.Sprintf("not yet (%d)", calls)
	})
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("gave up after %v, want just past the 50ms timeout", elapsed)
	}
	if want := fmt.Sprintf("after 50ms: not yet (%d)", calls); r.failed != want {
		t.Errorf("failure %q, want %q", r.failed, want)
	}
	if calls < 3 {
		t.Errorf("cond called %d times in 50ms at 10ms intervals", calls)
	}
}

func TestEventuallyTrueNamesWhatItWaitedFor(t *testing.T) {
	var r recorder
	EventuallyTrue(&r, 20*time.Millisecond, 5*time.Millisecond, "the address on eth0", func() bool { return false })
	if !strings.Contains(r.failed, "still waiting for the address on eth0") {
		t.Errorf("failure %q does not say what was awaited", r.failed)
	}
	var ok recorder
	EventuallyTrue(&ok, time.Second, time.Millisecond, "nothing", func() bool { return true })
	if ok.failed != "" {
		t.Errorf("a condition that holds failed: %q", ok.failed)
	}
}

// A condition that comes true between the last tick and the deadline holds: cond runs once more
// at the deadline.
func TestEventuallyChecksAtTheDeadline(t *testing.T) {
	var r recorder
	start := time.Now()
	Eventually(&r, 50*time.Millisecond, 40*time.Millisecond, func() string {
		if time.Since(start) < 45*time.Millisecond {
			return "not yet"
		}
		return ""
	})
	if r.failed != "" {
		t.Errorf("failed with %q; the condition held at the deadline", r.failed)
	}
}
