package loop

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/frontdesk-lb/frontdesk/internal/version"
)

// No label depends on addresses or nodes, so cardinality does not grow with the cluster.
var (
	syncs = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "syncs_total",
		Help:           "Runs of the speaker loop, by result: ok, or error (retried).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	syncDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "sync_duration_seconds",
		Help:           "Time of one run of the speaker loop: snapshot, every protocol's plan and apply (the status is written apart, by its writer).",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 14),
		StabilityLevel: metrics.ALPHA,
	})
	statusWrites = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "status_writes_total",
		Help:           "IPAllocation status writes by this node, by result: ok, conflict (re-read and retried), error.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})

	buildInfo = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "build_info",
		Help:           "Always 1, labelled with what this speaker was built from: version, revision (commit), Go version.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"version", "revision", "goversion"})

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(syncs, syncDuration, statusWrites, buildInfo)
		v := version.Get()
		buildInfo.WithLabelValues(v.Version, v.Revision, v.GoVersion).Set(1)
	})
}
