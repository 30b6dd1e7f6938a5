package proxy

import (
	"testing"

	"github.com/frontdesk-lb/frontdesk/internal/version"
)

// The build-info gauge carries what internal/version reports, so a scrape says which build runs.
func TestBuildInfoMetric(t *testing.T) {
	families, err := newMetrics().reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := version.Get()
	want := map[string]string{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion}
	for _, f := range families {
		if f.GetName() != "frontdesk_proxy_build_info" {
			continue
		}
		if len(f.GetMetric()) != 1 {
			t.Fatalf("frontdesk_proxy_build_info has %d series, want 1", len(f.GetMetric()))
		}
		m := f.GetMetric()[0]
		if got := m.GetGauge().GetValue(); got != 1 {
			t.Errorf("value %v, want 1", got)
		}
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("label %s=%q, want %q", k, got[k], w)
			}
		}
		return
	}
	t.Fatal("no frontdesk_proxy_build_info series")
}
