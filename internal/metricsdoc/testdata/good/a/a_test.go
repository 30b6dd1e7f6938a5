package a

import "k8s.io/component-base/metrics"

var ignored = metrics.NewGauge(&metrics.GaugeOpts{Name: "test_only", Help: "Not read."})
