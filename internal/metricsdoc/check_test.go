package metricsdoc

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	good := Metric{Name: "frontdesk_x_syncs_total", Kind: "counter", Help: "Syncs.", Stability: "ALPHA", Labels: []string{"result"}}
	if errs := Check([]Metric{good}); len(errs) != 0 {
		t.Fatalf("a conforming metric: %v", errs)
	}
	with := func(f func(*Metric)) Metric { m := good; f(&m); return m }
	for _, tc := range []struct {
		m    Metric
		want string
	}{
		{with(func(m *Metric) { m.Name = "frontdesk_x_syncs" }), "a counter's name ends in _total"},
		{with(func(m *Metric) { m.Kind = "gauge" }), "only a counter's name ends in _total"},
		{with(func(m *Metric) { m.Name = "x_syncs_total" }), "name must be frontdesk_"},
		{with(func(m *Metric) { m.Name = "frontdesk_xSyncs_total" }), "name must be frontdesk_"},
		{with(func(m *Metric) { m.Name, m.Kind = "frontdesk_x_sync_duration", "histogram" }), "end the name with its base unit"},
		{with(func(m *Metric) { m.Name, m.Kind = "frontdesk_x_sync_milliseconds", "gauge" }), `"milliseconds" is not a base unit`},
		{with(func(m *Metric) { m.Help = "" }), "no help text"},
		{with(func(m *Metric) { m.Help = "Syncs" }), "ending in a full stop"},
		{with(func(m *Metric) { m.Stability = "" }), "no StabilityLevel"},
		{with(func(m *Metric) { m.Labels = []string{"nodeName"} }), `label "nodeName"`},
		{with(func(m *Metric) { m.Labels = []string{"le"} }), "reserved"},
	} {
		errs := Check([]Metric{tc.m})
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%+v: got %v, want one error saying %q", tc.m, errs, tc.want)
		}
	}
	if errs := Check([]Metric{good, good}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "also defined at") {
		t.Errorf("a name defined twice: %v", errs)
	}
}
