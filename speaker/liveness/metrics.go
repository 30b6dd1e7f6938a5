package liveness

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Metrics live in the legacy registry, which the speaker serves on /metrics. One Membership runs
// per speaker process; tests that run several in one process share these series. Label values
// are bounded: states and reasons are fixed sets, and no series is per peer (a cluster of a
// thousand nodes would otherwise make a thousand series per speaker).
var (
	peersMetric = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "peers",
		Help:           "Peer speakers by state (alive, dead), as this speaker sees them; itself excluded.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"state"})
	quorumMetric = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "quorum",
		Help:           "1 while this speaker may announce under the quorum rule (always 1 when no quorum is required), else 0.",
		StabilityLevel: metrics.ALPHA,
	})
	sentMetric = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "heartbeats_sent_total",
		Help:           "Heartbeat datagrams sent to peers, LEAVING ones included.",
		StabilityLevel: metrics.ALPHA,
	})
	sendErrorsMetric = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "send_errors_total",
		Help:           "Heartbeat datagrams the socket refused to send.",
		StabilityLevel: metrics.ALPHA,
	})
	receivedMetric = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "heartbeats_received_total",
		Help:           "Heartbeats accepted from peers.",
		StabilityLevel: metrics.ALPHA,
	})
	rejectedMetric = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "heartbeats_rejected_total",
		Help: "Datagrams not taken as heartbeats, by reason: unknown_source and rate_limited (dropped before the MAC check), " +
			"malformed, version, mac, unknown_sender, self, replay, stale_echo (normal once per peer after a start).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	deathsMetric = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "peer_deaths_total",
		Help: "Peers declared dead, by cause: timeout (no heartbeat for Timeout), leave (the peer said LEAVING) or " +
			"restart_grace (it said it was restarting and was not back within the restart grace).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"cause"})
	gapMetric = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "heartbeat_gap_seconds",
		Help: "Time between two accepted heartbeats from the same peer. Mass near the timeout means " +
			"false deaths are close: the network drops or delays heartbeats.",
		Buckets:        []float64{0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 5},
		StabilityLevel: metrics.ALPHA,
	})

	keyInfoMetric = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "liveness", Name: "key_info",
		Help: "1 for each heartbeat key in use, by id (KeyID: a hash prefix, not the key) and use (sign: signs and " +
			"verifies; accept: verifies only, during a rotation). Every speaker showing the same ids: a rotation step is done.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"id", "use"})

	registerOnce sync.Once
)

// counter is a resolved series of a vector, looked up once rather than per datagram.
type counter interface{ Inc() }

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(peersMetric, quorumMetric, sentMetric, sendErrorsMetric, receivedMetric,
			rejectedMetric, deathsMetric, gapMetric, keyInfoMetric)
	})
}
