package bgpmode

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// BGP metrics. No label depends on peers or addresses; per-session detail is in the BGPPeer
// status.
var (
	bgpSessionsEstablished = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_sessions_established",
		Help:           "BGP sessions of this node in state Established.",
		StabilityLevel: metrics.ALPHA,
	})
	bgpSessionsConfigured = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_sessions_configured",
		Help:           "BGP sessions this node should have (one per BGPPeer selecting it, including those whose configuration failed); fewer established means a session is down.",
		StabilityLevel: metrics.ALPHA,
	})
	bgpRoutesAdvertised = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_routes_advertised",
		Help:           "Routes this node advertises, summed over its BGP sessions.",
		StabilityLevel: metrics.ALPHA,
	})
	bgpUpdatesSent = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_updates_sent_total",
		Help:           "BGP UPDATE messages this node sent, over all sessions.",
		StabilityLevel: metrics.ALPHA,
	})
	bgpSyncs = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_syncs_total",
		Help:           "BGP parts of the speaker loop's runs, by result: ok, or error (the run is retried).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	bgpSyncDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "frontdesk", Subsystem: "speaker", Name: "bgp_sync_duration_seconds",
		Help:           "Time of the BGP part of one run of the speaker loop: routes, GoBGP and BGPPeer status writes.",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 14),
		StabilityLevel: metrics.ALPHA,
	})

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(bgpSessionsEstablished, bgpSessionsConfigured, bgpRoutesAdvertised, bgpUpdatesSent, bgpSyncs, bgpSyncDuration)
	})
}
