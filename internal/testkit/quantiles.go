package testkit

import (
	"math"
	"slices"
	"testing"
	"time"
)

// ReportQuantiles reports p50, p99 and max of ds in ms as <what>-<p50|p99|max>-ms, the names
// hack/benchreport renders as one row per measure (a suite's quantiles). The quantiles are
// nearest-rank: with up to 100 values p99 is the max. ds is left as it was.
func ReportQuantiles(b *testing.B, what string, ds []time.Duration) {
	ds = slices.Sorted(slices.Values(ds))
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}, {"max", 1}} {
		b.ReportMetric(float64(quantile(ds, q.p))/float64(time.Millisecond), what+"-"+q.name+"-ms")
	}
}

// quantile is the nearest-rank quantile p of sorted ds; 0 if there are none.
func quantile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
