//go:build netns && integration

package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/internal/metricsdoc"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// speakerMetricsPort is the chart's speaker.metricsPort, which the lab leaves at its default.
const speakerMetricsPort = 7472

// testSpeakerMetrics scrapes every node's speaker as Prometheus would, on the node's address from
// the LAN: the series the chart's alerts and the README's troubleshooting read are there, and
// every frontdesk metric served is one the source defines (docs/metrics.md).
func testSpeakerMetrics(t *testing.T, l *lab, proxy string) {
	ms, err := metricsdoc.Find(l.repo)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range ms {
		defined[m.Name] = true
	}
	want := []string{"frontdesk_speaker_build_info", "frontdesk_speaker_syncs_total", "frontdesk_speaker_sync_duration_seconds",
		"frontdesk_liveness_peers", "frontdesk_liveness_quorum", "frontdesk_liveness_heartbeats_received_total",
		"frontdesk_speaker_bgp_sessions_configured", "frontdesk_speaker_bgp_sessions_established", "frontdesk_speaker_addresses_announced"}
	if proxy == supervisor.ProxyFrontdesk {
		want = append(want, "frontdesk_proxy_build_info", "frontdesk_proxy_sync_duration_seconds", "frontdesk_proxy_rules")
	}
	lan := l.plan.NS(topology.RoleLANClient)
	for _, n := range l.plan.Nodes {
		target := "http://" + netip.AddrPortFrom(n.IP, speakerMetricsPort).String() + "/metrics"
		var body string
		eventually(t, 20*time.Second, "GET "+target+" from the LAN", func() (bool, string) {
			r, err := httpGet(t.Context(), lan, target)
			body = r.body
			return err == nil, fmt.Sprint(err)
		})
		families, err := testutil.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		for _, w := range want {
			if _, ok := families[w]; !ok {
				t.Errorf("%s serves no %s", n.Name, w)
			}
		}
		served := 0
		for name := range families {
			if !strings.HasPrefix(name, "frontdesk_") {
				continue
			}
			served++
			if !defined[name] {
				t.Errorf("%s serves %s, which docs/metrics.md does not list", n.Name, name)
			}
		}
		if c := families["frontdesk_speaker_bgp_sessions_configured"]; c != nil && c.GetMetric()[0].GetGauge().GetValue() < 1 {
			t.Errorf("%s: %v BGP sessions configured, want at least the router's", n.Name, c.GetMetric()[0].GetGauge().GetValue())
		}
		t.Logf("%s: %d frontdesk metric families served", n.Name, served)
	}
}
