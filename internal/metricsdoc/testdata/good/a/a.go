package a

import (
	m "k8s.io/component-base/metrics"
)

const (
	ns  = "frontdesk"
	sub = "thing"
)

var (
	syncs = m.NewCounterVec(&m.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "syncs_total",
		Help:           "Syncs, " + "by result.",
		StabilityLevel: m.BETA,
	}, []string{"result", "kind"})
	depth = m.NewGauge(&m.GaugeOpts{Namespace: ns, Name: "depth", Help: "Depth.", StabilityLevel: m.ALPHA})
)
