package b

import "github.com/prometheus/client_golang/prometheus"

func newLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "frontdesk_b_latency_seconds",
		Help:        "Latency.",
		ConstLabels: prometheus.Labels{"version": "1", "arch": "amd64"},
	})
}
