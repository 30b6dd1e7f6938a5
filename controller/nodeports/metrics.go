package nodeports

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/frontdesk-lb/frontdesk/allocator"
)

var (
	rangeSize = metrics.NewGauge(&metrics.GaugeOpts{Namespace: "frontdesk", Subsystem: "nodeport", Name: "range_size",
		Help: "Ports in the NodePort range.", StabilityLevel: metrics.ALPHA})
	used = metrics.NewGauge(&metrics.GaugeOpts{Namespace: "frontdesk", Subsystem: "nodeport", Name: "used",
		Help: "NodePorts of the range held by Services (nodePorts and healthCheckNodePorts).", StabilityLevel: metrics.ALPHA})
	staticUsed = metrics.NewGauge(&metrics.GaugeOpts{Namespace: "frontdesk", Subsystem: "nodeport", Name: "static_band_used",
		Help: "NodePorts in use in the range's static band (kept for explicitly requested ports, KEP-3668).", StabilityLevel: metrics.ALPHA})
	outOfRange = metrics.NewGauge(&metrics.GaugeOpts{Namespace: "frontdesk", Subsystem: "nodeport", Name: "out_of_range",
		Help: "NodePorts in use outside the configured range (the range flag differs from the API server's).", StabilityLevel: metrics.ALPHA})
	once sync.Once
)

func registerMetrics() {
	once.Do(func() { legacyregistry.MustRegister(rangeSize, used, staticUsed, outOfRange) })
}

func observeMetrics(st allocator.PortStats) {
	rangeSize.Set(float64(st.Size))
	used.Set(float64(st.Used))
	staticUsed.Set(float64(st.StaticUsed))
	outOfRange.Set(float64(st.OutOfRange))
}
