// Package testkit is what the tests of many packages share, so that each does not keep a copy:
// waiting for a condition that other goroutines, processes or the API server bring about,
// running the test binary as a child process, writing files as the kubelet mounts a Secret,
// a fake API server's hang (Blackhole), and a benchmark's quantiles as hack/benchreport reads them.
package testkit

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// TB is the part of testing.TB that Eventually needs (testing.TB itself cannot be implemented
// outside the testing package, which would leave Eventually's own failure untestable).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Eventually calls cond every `every` (the first time at once) until it returns "" or timeout
// has passed, then fails t with timeout and cond's last complaint; the polling is apimachinery's
// wait.PollUntilContextTimeout. cond runs once more at the deadline, which the poll does not do:
// a condition met since the last tick is not reported as a failure. It returns how long cond
// took to hold, from the call: some tests report it.
func Eventually(t TB, timeout, every time.Duration, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), every, timeout, true, func(context.Context) (bool, error) {
		last = cond()
		return last == "", nil
	})
	if err != nil {
		if last = cond(); last != "" {
			t.Fatalf("after %s: %s", timeout, last)
		}
	}
	return time.Since(start)
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
