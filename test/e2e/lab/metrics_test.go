//go:build netns && integration

package lab

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/internal/metricsdoc"
	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// speakerMetricsPort is the chart's speaker.metricsPort, which the lab leaves at its default.
const speakerMetricsPort = 7472

// testSpeakerMetrics scrapes every node's speaker as Prometheus would, on the node's address from
// the LAN: the series the chart's alerts and the README's troubleshooting read are there, and
// every frontdesk metric served is one the source defines (docs/metrics.md).
func testSpeakerMetrics(t *testing.T, l *lab, proxy string) {
	defined := definedMetrics(t, l)
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
		families := documentedFamilies(t, n.Name, body, defined)
		for _, w := range want {
			if _, ok := families[w]; !ok {
				t.Errorf("%s serves no %s", n.Name, w)
			}
		}
		if c := families["frontdesk_speaker_bgp_sessions_configured"]; c != nil && c.GetMetric()[0].GetGauge().GetValue() < 1 {
			t.Errorf("%s: %v BGP sessions configured, want at least the router's", n.Name, c.GetMetric()[0].GetGauge().GetValue())
		}
		t.Logf("%s: %d frontdesk metric families served", n.Name, len(families))
	}
}

// testControllerMetrics scrapes every controller replica as the chart's ServiceMonitor does: over
// HTTPS on the Pod's secure port, with a ServiceAccount token allowed to get /metrics (what
// kube-prometheus gives its Prometheus), the serving certificate not verified. The leader serves
// the series the alerts read; every frontdesk family served is one the source defines.
func testControllerMetrics(t *testing.T, l *lab) {
	ctx := t.Context()
	defined := definedMetrics(t, l)
	token := l.serviceAccountToken(t, "frontdesk-test-metrics-reader", "frontdesk-test-metrics-reader",
		rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:       netns.Dialer(l.plan.Nodes[0].NS),      // the Pod network is routed between nodes
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the controller's serving certificate is self-signed; the token is what is checked
		DisableKeepAlives: true,
	}}
	served := map[string]bool{}
	pods := l.componentPods(t, "controller")
	if len(pods) == 0 {
		t.Fatal("no running controller Pod")
	}
	for _, pod := range pods {
		target := "https://" + net.JoinHostPort(pod.Status.PodIP, "10258") + "/metrics"
		var body string
		eventually(t, 20*time.Second, "GET "+target+" with a token", func() (bool, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return false, err.Error()
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer func() { _ = resp.Body.Close() }()
			b, err := io.ReadAll(resp.Body)
			body = string(b)
			return err == nil && resp.StatusCode == http.StatusOK, fmt.Sprintf("%v %s", err, resp.Status)
		})
		for n := range documentedFamilies(t, pod.Name, body, defined) {
			served[n] = true
		}
	}
	// The leader's: hello-svc is served, so the condition gauge has a True series; the pools'.
	for _, w := range []string{"frontdesk_service_controller_load_balancer_conditions", "frontdesk_service_controller_sync_duration_seconds",
		"frontdesk_ippool_capacity_addresses", "frontdesk_ippool_assigned_addresses", "frontdesk_ipam_allocations_total"} {
		if !served[w] {
			t.Errorf("no controller replica serves %s", w)
		}
	}
	t.Logf("%d frontdesk metric families served by the controller", len(served))
}

// documentedFamilies parses a scrape of who's /metrics and returns its frontdesk metric families,
// each of which must be one the source defines (docs/metrics.md).
func documentedFamilies(t *testing.T, who, scrape string, defined map[string]bool) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := testutil.TextToMetricFamilies(strings.NewReader(scrape))
	if err != nil {
		t.Fatalf("%s's /metrics: %v", who, err)
	}
	for name := range families {
		if !strings.HasPrefix(name, "frontdesk_") {
			delete(families, name)
		} else if !defined[name] {
			t.Errorf("%s serves %s, which docs/metrics.md does not list", who, name)
		}
	}
	return families
}

func definedMetrics(t *testing.T, l *lab) map[string]bool {
	t.Helper()
	ms, err := metricsdoc.Find(l.repo)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range ms {
		defined[m.Name] = true
	}
	return defined
}
