// Package poll holds the tests' checks over a window of real time, for code that runs against a
// real API server or kernel, where nothing proves the code under test idle (in-process code uses
// testing/synctest instead).
package poll

import (
	"testing"
	"time"
)

// Consistently checks cond every 20 ms for the whole of window and fails t at the first complaint
// (a non-empty string). "It did not happen" can only be observed over a bounded window there;
// polling through it, rather than looking once at its end, also catches a wrong state that comes
// and goes.
func Consistently(t testing.TB, window time.Duration, cond func() string) {
	t.Helper()
	for end := time.Now().Add(window); ; time.Sleep(20 * time.Millisecond) {
		if msg := cond(); msg != "" {
			t.Fatal(msg)
		}
		if time.Now().After(end) {
			return
		}
	}
}
