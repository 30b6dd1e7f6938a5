package l2

import (
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

// The production recorder writes the registered metrics. The registry is global and outlives
// the test (-count=N), so deltas are checked.
func TestPromRecorder(t *testing.T) {
	r := newPromRecorder()
	value := func(m metrics.CounterMetric) float64 {
		t.Helper()
		v, err := testutil.GetCounterMetricValue(m)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	counters := []struct {
		name   string
		metric metrics.CounterMetric
		record func()
		times  int
	}{
		{"requests_answered_total{arp,fdtest0}", requestsAnswered.WithLabelValues("arp", "fdtest0"),
			func() { r.answered(protoARP, "fdtest0") }, 2},
		{"packets_dropped_total{ndp,wrong_interface}", packetsDropped.WithLabelValues("ndp", "wrong_interface"),
			func() { r.dropped(protoNDP, "fdtest0", DropWrongInterface) }, 1},
		{"gratuitous_sent_total{ndp,fdtest0}", gratuitousSent.WithLabelValues("ndp", "fdtest0"),
			func() { r.gratuitousSent(protoNDP, "fdtest0") }, 3},
		{"interface_unavailable_total{missing}", interfaceUnavailable.WithLabelValues("missing"),
			func() { r.interfaceUnavailable("fdtest0", InterfaceMissing) }, 1},
	}
	for _, c := range counters {
		before := value(c.metric)
		for range c.times {
			c.record()
		}
		if got := value(c.metric) - before; got != float64(c.times) {
			t.Errorf("%s grew by %v, want %d", c.name, got, c.times)
		}
	}
	r.unavailableNow(3)
	if v, err := testutil.GetGaugeMetricValue(interfacesUnavailable); err != nil || v != 3 {
		t.Errorf("interfaces_unavailable = %v, %v; want 3", v, err)
	}
}
