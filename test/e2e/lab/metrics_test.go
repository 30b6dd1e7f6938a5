//go:build netns && integration

package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/internal/netns"

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

// testControllerMetrics scrapes every controller replica as the chart's ServiceMonitor does: over
// HTTPS on the Pod's secure port, with a ServiceAccount token allowed to get /metrics (what
// kube-prometheus gives its Prometheus), the serving certificate not verified. The leader serves
// the series the alerts read; every frontdesk family served is one the source defines.
func testControllerMetrics(t *testing.T, l *lab) {
	ctx := t.Context()
	defined := definedMetrics(t, l)
	const name = "frontdesk-test-metrics-reader"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: name}}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if _, err := l.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.kube.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = l.kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = l.kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = l.kube.CoreV1().ServiceAccounts("default").Delete(ctx, name, metav1.DeleteOptions{})
	})
	tok, err := l.kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
			req.Header.Set("Authorization", "Bearer "+tok.Status.Token)
			resp, err := client.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer func() { _ = resp.Body.Close() }()
			b, err := io.ReadAll(resp.Body)
			body = string(b)
			return err == nil && resp.StatusCode == http.StatusOK, fmt.Sprintf("%v %s", err, resp.Status)
		})
		families, err := testutil.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		for n := range families {
			if strings.HasPrefix(n, "frontdesk_") {
				served[n] = true
				if !defined[n] {
					t.Errorf("%s serves %s, which docs/metrics.md does not list", pod.Name, n)
				}
			}
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
