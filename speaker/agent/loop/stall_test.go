package loop

import (
	"testing"
	"time"
)

func TestStallWatch(t *testing.T) {
	var w stallWatch
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 0},                                 // the first tick only records
		{100 * time.Millisecond, 0},            // on time
		{250 * time.Millisecond, 0},            // late, not stalled
		{250*time.Millisecond + stallAfter, 0}, // exactly stallAfter: not more
		{2*time.Second + 250*time.Millisecond, 2*time.Second - stallAfter}, // SIGSTOP then SIGCONT
		{2*time.Second + 350*time.Millisecond, 0},                          // back to normal
	}
	for _, s := range steps {
		if got := w.observe(t0.Add(s.at)); got != s.want {
			t.Errorf("tick at %s: gap %s, want %s", s.at, got, s.want)
		}
	}
}
