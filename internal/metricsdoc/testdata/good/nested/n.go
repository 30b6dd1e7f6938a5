package nested

import "k8s.io/component-base/metrics"

var other = metrics.NewGauge(&metrics.GaugeOpts{Name: "another_module", Help: "Not read."})
