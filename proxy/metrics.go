package proxy

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/component-base/metrics"

	"github.com/frontdesk-lb/frontdesk/internal/version"
)

// proxyMetrics are the proxy's Prometheus series, in a registry of its own so that an embedding
// binary (the speaker) decides where they are served. They are Kubernetes' metrics (stability
// levels), as the speaker's and the controller's are.
type proxyMetrics struct {
	reg             metrics.KubeRegistry
	syncDuration    *metrics.HistogramVec
	syncErrors      *metrics.CounterVec
	transactions    *metrics.CounterVec
	rules           *metrics.GaugeVec
	elements        *metrics.GaugeVec
	chains          *metrics.GaugeVec
	refused         *metrics.Counter
	overLimit       *metrics.Counter
	addrsRefused    *metrics.Counter
	conntrackErrors *metrics.Counter
	// Dead-node exclusion (SetExcludedNodes).
	excludedEndpoints *metrics.GaugeVec
	failOpen          *metrics.GaugeVec
	excludedNodes     *metrics.Gauge
	exclusionLatency  *metrics.Histogram
	// applied maps each excluded node to the DeadSince of the exclusion already in the kernel, so
	// that the latency is observed once per death. Only the sync path touches it (syncMu).
	applied map[string]time.Time
}

func newMetrics() *proxyMetrics {
	m := &proxyMetrics{
		reg: metrics.NewKubeRegistry(),
		syncDuration: metrics.NewHistogramVec(&metrics.HistogramOpts{
			Name:           "frontdesk_proxy_sync_duration_seconds",
			Help:           "Time from taking the pending changes to the kernel holding the rules, by kind (full or partial).",
			StabilityLevel: metrics.ALPHA,
			Buckets:        metrics.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
		syncErrors: metrics.NewCounterVec(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_sync_errors_total",
			Help:           "Syncs that failed; each is followed by a full sync.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"kind"}),
		transactions: metrics.NewCounterVec(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_transactions_total",
			Help:           "nftables transactions sent, by family.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"family"}),
		rules: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name:           "frontdesk_proxy_rules",
			Help:           "Rules in the per-Service chains, by family.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"family"}),
		chains: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name:           "frontdesk_proxy_chains",
			Help:           "Per-Service chains, by family.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"family"}),
		elements: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name:           "frontdesk_proxy_map_elements",
			Help:           "Elements in the shared maps and sets, by family.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"family"}),
		refused: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_endpoints_refused_total",
			Help:           "Endpoint addresses skipped because they are loopback or link-local.",
			StabilityLevel: metrics.ALPHA,
		}),
		overLimit: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_service_limits_exceeded_total",
			Help:           "Services built over --max-ports-per-service (not programmed) or Service ports over --max-endpoints-per-service-port (capped), counted at each build.",
			StabilityLevel: metrics.ALPHA,
		}),
		addrsRefused: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_addresses_refused_total",
			Help:           "externalIPs and LoadBalancer IPs left out at a Service's build: outside --allowed-external-ip-cidrs, or another Service's address.",
			StabilityLevel: metrics.ALPHA,
		}),
		conntrackErrors: metrics.NewCounter(&metrics.CounterOpts{
			Name:           "frontdesk_proxy_conntrack_errors_total",
			Help:           "Failed clean-ups of stale UDP conntrack entries (retried after the next sync).",
			StabilityLevel: metrics.ALPHA,
		}),
	}
	v := version.Get()
	buildInfo := metrics.NewGauge(&metrics.GaugeOpts{
		Name:           "frontdesk_proxy_build_info",
		Help:           "Always 1, labelled with what this node proxy was built from: version, revision (commit), Go version.",
		StabilityLevel: metrics.ALPHA,
		ConstLabels:    map[string]string{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion},
	})
	m.excludedEndpoints = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Name:           "frontdesk_proxy_dead_node_excluded_endpoints",
		Help:           "Endpoint addresses (per Service, by family) taking no new connections because their node is dead by the speakers' agreement.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"family"})
	m.failOpen = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Name:           "frontdesk_proxy_fail_open_services",
		Help:           "Service ports (by family) whose every usable endpoint is on dead nodes, so all are kept (fail open).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"family"})
	m.excludedNodes = metrics.NewGauge(&metrics.GaugeOpts{
		Name:           "frontdesk_proxy_dead_nodes_excluded",
		Help:           "Nodes whose endpoints are excluded (dead, or back after a restart and not ready again).",
		StabilityLevel: metrics.ALPHA,
	})
	m.exclusionLatency = metrics.NewHistogram(&metrics.HistogramOpts{
		Name:           "frontdesk_proxy_dead_node_exclusion_seconds",
		Help:           "Time from a node's death as liveness detected it to its endpoints' exclusion being in the kernel.",
		StabilityLevel: metrics.ALPHA,
		Buckets:        metrics.ExponentialBuckets(0.05, 2, 10),
	})
	m.applied = map[string]time.Time{}
	m.reg.MustRegister(m.syncDuration, m.syncErrors, m.transactions, m.rules, m.chains, m.elements, m.refused, m.overLimit, m.addrsRefused,
		m.conntrackErrors, m.excludedEndpoints, m.failOpen, m.excludedNodes, m.exclusionLatency, buildInfo)
	// Set only once registered: Kubernetes' metrics ignore writes before.
	buildInfo.Set(1)
	return m
}

// observeExcluded updates the exclusion metrics after a successful sync with this excluded set:
// the latency of each death newly in the kernel, and the gauges.
func (m *proxyMetrics) observeExcluded(excluded map[string]ExcludedNode, tables []*table) {
	now := time.Now()
	for n, x := range excluded {
		if prev, ok := m.applied[n]; ok && prev.Equal(x.DeadSince) {
			continue
		}
		if x.ReturnedAt.IsZero() && !x.DeadSince.IsZero() {
			m.exclusionLatency.Observe(now.Sub(x.DeadSince).Seconds())
		}
	}
	m.applied = map[string]time.Time{}
	for n, x := range excluded {
		m.applied[n] = x.DeadSince
	}
	m.excludedNodes.Set(float64(len(excluded)))
	for _, t := range tables {
		m.excludedEndpoints.WithLabelValues(string(t.fam.nft)).Set(float64(t.dead))
		m.failOpen.WithLabelValues(string(t.fam.nft)).Set(float64(t.failOpen))
	}
}

// observeTable updates the size gauges from a table's counters.
func (m *proxyMetrics) observeTable(t *table) {
	fam := string(t.fam.nft)
	m.rules.WithLabelValues(fam).Set(float64(t.rules))
	m.chains.WithLabelValues(fam).Set(float64(t.chains))
	m.elements.WithLabelValues(fam).Set(float64(len(t.skel.elems) + len(t.elems.installed)))
}

// Registry is the proxy's metrics registry, for an embedding binary to serve.
func (p *Proxy) Registry() prometheus.Gatherer { return p.metrics.reg }

// MetricsHandler serves the proxy's metrics in the Prometheus text format.
func (p *Proxy) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{})
}
