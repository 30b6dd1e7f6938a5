package c

import (
	"fmt"

	"k8s.io/component-base/metrics"
)

var opts = &metrics.GaugeOpts{Name: "built_apart", Help: "Options apart from the call."}

var apart = metrics.NewGauge(opts)

var computed = metrics.NewCounter(&metrics.CounterOpts{Name: fmt.Sprint("computed_total"), Help: "A name from a call."})
