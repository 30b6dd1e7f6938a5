package testkit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReportQuantiles: nearest-rank p50, p99 and max in ms under benchreport's names, the
// values left unsorted; nothing measured reports 0.
func TestReportQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 40; i >= 1; i-- { // 40 values: p50 is the 20th, p99 the 40th
		ds = append(ds, time.Duration(i)*time.Millisecond+500*time.Microsecond)
	}
	r := testing.Benchmark(func(b *testing.B) {
		ReportQuantiles(b, "takeover", ds)
		ReportQuantiles(b, "none", nil)
	})
	want := map[string]float64{
		"takeover-p50-ms": 20.5, "takeover-p99-ms": 40.5, "takeover-max-ms": 40.5,
		"none-p50-ms": 0, "none-p99-ms": 0, "none-max-ms": 0,
	}
	if diff := cmp.Diff(want, r.Extra); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if ds[0] != 40*time.Millisecond+500*time.Microsecond {
		t.Errorf("ReportQuantiles sorted its argument: ds[0] = %v", ds[0])
	}
}
