package proxy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	"sigs.k8s.io/knftables"
)

// remote3 is a Pod on a third node, node-c.
var remote3 = ep{ip: "10.244.3.5", node: "node-c"}

const toRemote3 = "DNAT 10.244.3.5:8080"

// TestExcludedNodeTakesNoNewConnections: with node-b excluded, the Service's rules send new
// connections only to the other nodes' endpoints; taken back, node-b's again.
func TestExcludedNodeTakesNoNewConnections(t *testing.T) {
	tp := newTestProxy(t)
	svc := newService("web", clusterIP("10.96.0.5"), loadBalancer("203.0.113.5"))
	tp.apply(t, svc, newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1, remote2, remote3))
	tr := tp.tracer(t, knftables.IPv4Family)
	pod := tcp("10.244.1.7", "10.96.0.5", 80)
	ext := tcp("172.16.0.5", "203.0.113.5", 80)
	if diff := cmp.Diff([]string{toLocal1, toRemote1, toRemote2, toRemote3}, tr.trace(pod)); diff != "" {
		t.Fatalf("before (-want +got):\n%s", diff)
	}

	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: time.Now()}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{toLocal1, toRemote3}, tr.trace(pod)); diff != "" {
		t.Errorf("node-b excluded, from a Pod (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{toLocal1 + masq, toRemote3 + masq}, tr.trace(ext)); diff != "" {
		t.Errorf("node-b excluded, LoadBalancer IP (-want +got):\n%s", diff)
	}
	if got := gaugeValue(t, tp.metrics.excludedEndpoints.WithLabelValues("ip")); got != 2 {
		t.Errorf("excluded endpoints gauge %v, want 2", got)
	}
	if got, err := testutil.GetHistogramMetricCount(tp.metrics.exclusionLatency.ObserverMetric); err != nil || got != 1 {
		t.Errorf("latency histogram holds %d observations (%v), want 1: one death", got, err)
	}

	tp.SetExcludedNodes(nil)
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{toLocal1, toRemote1, toRemote2, toRemote3}, tr.trace(pod)); diff != "" {
		t.Errorf("taken back (-want +got):\n%s", diff)
	}
	if got := gaugeValue(t, tp.metrics.excludedEndpoints.WithLabelValues("ip")); got != 0 {
		t.Errorf("excluded endpoints gauge %v after taking node-b back, want 0", got)
	}
}

// TestExcludedNodesFailOpen: a Service whose every endpoint is on excluded nodes keeps them all
// (it is not refused on the speakers' word), and the gauge says so; this node's own endpoints
// and endpoints without a node are never excluded.
func TestExcludedNodesFailOpen(t *testing.T) {
	tp := newTestProxy(t)
	noNode := ep{ip: "10.244.9.9"}
	tp.apply(t,
		newService("all-dead", clusterIP("10.96.0.6")), newSlice("all-dead", "a-1", v1.ProtocolTCP, remote1, remote3),
		newService("unknown", clusterIP("10.96.0.7")), newSlice("unknown", "u-1", v1.ProtocolTCP, remote1, noNode),
		newService("mine", clusterIP("10.96.0.8")), newSlice("mine", "m-1", v1.ProtocolTCP, local1, remote1),
	)
	now := time.Now()
	// Even a (wrong) entry for this node itself changes nothing: it is alive, it is us.
	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: now}, "node-c": {DeadSince: now}, testNode: {DeadSince: now}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := tp.tracer(t, knftables.IPv4Family)
	for _, tc := range []struct {
		dst  string
		want []string
	}{
		{"10.96.0.6", []string{toRemote1, toRemote3}},
		{"10.96.0.7", []string{"DNAT 10.244.9.9:8080"}},
		{"10.96.0.8", []string{toLocal1}},
	} {
		if diff := cmp.Diff(tc.want, tr.trace(tcp("10.244.1.7", tc.dst, 80))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.dst, diff)
		}
	}
	if got := gaugeValue(t, tp.metrics.failOpen.WithLabelValues("ip")); got != 1 {
		t.Errorf("fail-open gauge %v, want 1 (all-dead)", got)
	}
}

// TestReturnedNodeWaitsForReadiness: a node back after a restart has its endpoints taken back
// only once their EndpointSlice reports them ready after its return; the Pods listed from
// before it died may not run any more.
func TestReturnedNodeWaitsForReadiness(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t, newService("web", clusterIP("10.96.0.5")), newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1))
	dead := time.Now()
	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: dead}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := tp.tracer(t, knftables.IPv4Family)
	pod := tcp("10.244.1.7", "10.96.0.5", 80)
	time.Sleep(5 * time.Millisecond) // the return comes strictly after the first readiness
	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: dead, ReturnedAt: time.Now()}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{toLocal1}, tr.trace(pod)); diff != "" {
		t.Errorf("back, endpoint still the one from before (-want +got):\n%s", diff)
	}
	// The kubelet restarts the Pod: not ready, then ready again (here with a new address too).
	remote1NotReady := remote1
	remote1NotReady.notReady = true
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1NotReady, remote2))
	if diff := cmp.Diff([]string{toLocal1, toRemote2}, tr.trace(pod)); diff != "" {
		t.Errorf("a new ready Pod on the returned node (-want +got):\n%s", diff)
	}
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1, remote2))
	if diff := cmp.Diff([]string{toLocal1, toRemote1, toRemote2}, tr.trace(pod)); diff != "" {
		t.Errorf("the old Pod ready again (-want +got):\n%s", diff)
	}
}

// TestDeadNodeFlowsCleared: excluding a node clears the conntrack entries of TCP connections
// through the Service to its endpoints (the client's next packet meets a reset from a live
// endpoint and it reconnects) and of UDP flows; an endpoint merely removed keeps its TCP
// connections (as with kube-proxy: a terminating Pod may finish them).
func TestDeadNodeFlowsCleared(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t,
		newService("web", clusterIP("10.96.0.5"), nodePort(30080)), newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1, remote3),
		newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, local1, remote1),
	)
	tp.ct.take()
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1))
	if got := tp.ct.take(); len(got) != 0 {
		t.Errorf("a TCP endpoint removed by Kubernetes: conntrack deletions %v, want none", got)
	}
	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: time.Now()}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-D -p tcp --orig-dst 10.96.0.5 --orig-port-dst 80 --reply-src 10.244.2.5",
		"-D -p tcp --orig-port-dst 30080 --reply-src 10.244.2.5",
		"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.2.5 --reply-port-src 8080",
	}
	if diff := cmp.Diff(want, tp.ct.take()); diff != "" {
		t.Errorf("conntrack deletions on excluding node-b (-want +got):\n%s", diff)
	}
	// A later change of the Service does not clear them again.
	tp.apply(t, newService("web", clusterIP("10.96.0.5"), nodePort(30080), func(s *v1.Service) { s.Labels = map[string]string{"x": "y"} }))
	if got := tp.ct.take(); len(got) != 0 {
		t.Errorf("resync with node-b still excluded: deletions %v, want none", got)
	}
}

// TestRebootedNodeHeldWithoutExclusion: a node that rebooted without having been excluded (its
// speaker left on shutdown) is handed over with ReturnedAt alone: its endpoints listed ready from
// before the reboot take no new connections and their connections are cleared (they died with
// the node), and a Pod ready after the reboot is used at once.
func TestRebootedNodeHeldWithoutExclusion(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t, newService("web", clusterIP("10.96.0.5")), newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1))
	tr := tp.tracer(t, knftables.IPv4Family)
	pod := tcp("10.244.1.7", "10.96.0.5", 80)
	tp.ct.take()
	time.Sleep(5 * time.Millisecond) // the reboot comes strictly after the first readiness
	tp.SetExcludedNodes(map[string]ExcludedNode{"node-b": {ReturnedAt: time.Now()}})
	if err := tp.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{toLocal1}, tr.trace(pod)); diff != "" {
		t.Errorf("rebooted, its endpoint from before (-want +got):\n%s", diff)
	}
	want := []string{"-D -p tcp --orig-dst 10.96.0.5 --orig-port-dst 80 --reply-src 10.244.2.5"}
	if diff := cmp.Diff(want, tp.ct.take()); diff != "" {
		t.Errorf("conntrack deletions on the reboot (-want +got):\n%s", diff)
	}
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1, remote2))
	if diff := cmp.Diff([]string{toLocal1, toRemote2}, tr.trace(pod)); diff != "" {
		t.Errorf("a Pod ready after the reboot (-want +got):\n%s", diff)
	}
}

func gaugeValue(t *testing.T, g metrics.GaugeMetric) float64 {
	t.Helper()
	v, err := testutil.GetGaugeMetricValue(g)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
