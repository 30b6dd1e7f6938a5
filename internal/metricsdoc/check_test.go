package metricsdoc

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/component-base/metrics/testutil"
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

// Prometheus' own linter (promlint, as Kubernetes runs it) finds nothing wrong with frontdesk's
// metrics, written out as a scrape would show them: one series each.
func TestPromlint(t *testing.T) {
	ms, err := defined()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, m := range ms {
		var labels []string
		for _, l := range append(append([]string(nil), m.Labels...), m.ConstLabels...) {
			labels = append(labels, l+`="x"`)
		}
		sel := ""
		if len(labels) > 0 {
			sel = "{" + strings.Join(labels, ",") + "}"
		}
		fmt.Fprintf(&text, "# HELP %s %s\n# TYPE %s %s\n", m.Name, m.Help, m.Name, m.Kind)
		switch m.Kind {
		case "histogram":
			le := `le="+Inf"`
			if sel == "" {
				fmt.Fprintf(&text, "%s_bucket{%s} 1\n%s_sum 1\n%s_count 1\n", m.Name, le, m.Name, m.Name)
			} else {
				fmt.Fprintf(&text, "%s_bucket{%s,%s} 1\n%s_sum%s 1\n%s_count%s 1\n", m.Name, strings.Join(labels, ","), le, m.Name, sel, m.Name, sel)
			}
		default:
			fmt.Fprintf(&text, "%s%s 1\n", m.Name, sel)
		}
	}
	problems, err := testutil.NewPromLinter(strings.NewReader(text.String())).Lint()
	if err != nil {
		t.Fatalf("%v\n%s", err, text.String())
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p.String())
	}
}
