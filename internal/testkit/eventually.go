// Package testkit is what the tests of many packages share, so that each does not keep a copy:
// waiting for a condition that other goroutines, processes or the API server bring about.
package testkit

import (
	"time"
)

// TB is the part of testing.TB that Eventually needs (testing.TB itself cannot be implemented
// outside the testing package, which would leave Eventually's own failure untestable).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Eventually calls cond every `every` until it returns "" or timeout has passed, then fails t
// with timeout and cond's last complaint. It returns how long cond took to hold, from the call:
// some tests report it. cond runs at least once, and once more after the deadline, so that a
// condition met while the test slept is not reported as a failure.
func Eventually(t TB, timeout, every time.Duration, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
			return time.Since(start)
		}
		time.Sleep(min(every, max(time.Until(deadline), time.Millisecond)))
	}
}

// EventuallyTrue is Eventually for a condition with nothing to say but whether it holds: the
// failure names what was awaited.
func EventuallyTrue(t TB, timeout, every time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Eventually(t, timeout, every, func() string {
		if cond() {
			return ""
		}
		return "still waiting for " + what
	})
}
