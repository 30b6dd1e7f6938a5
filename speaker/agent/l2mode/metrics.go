package l2mode

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// No label depends on addresses or nodes, so cardinality does not grow with the cluster.
var (
	addressesAnnounced = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "addresses_announced",
		Help:           "Addresses this node announces over layer 2 now (announced on at least one interface).",
		StabilityLevel: metrics.ALPHA,
	})
	electionChanges = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "election_changes_total",
		Help:           "Addresses whose announcing node changed, as this node computed it.",
		StabilityLevel: metrics.ALPHA,
	})

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() { legacyregistry.MustRegister(addressesAnnounced, electionChanges) })
}
