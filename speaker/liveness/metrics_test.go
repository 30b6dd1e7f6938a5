package liveness

import (
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"
)

// TestMetrics: the series exist under their names once a Membership is created, and a rejected
// datagram shows under its reason.
func TestMetrics(t *testing.T) {
	s := steady(t, 2, nil)
	s.nodes["node-0"].m.handle(encode(datagram{inc: 1, seq: 1, nonce: 1, name: "node-1"}, otherKey), s.now())
	s.run(time.Second)

	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	macRejected := 0.0
	for _, f := range families {
		found[f.GetName()] = true
		if f.GetName() != "frontdesk_liveness_heartbeats_rejected_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == "mac" {
					macRejected += m.GetCounter().GetValue()
				}
			}
		}
	}
	for _, name := range []string{
		"frontdesk_liveness_peers", "frontdesk_liveness_quorum", "frontdesk_liveness_heartbeats_sent_total",
		"frontdesk_liveness_heartbeats_received_total", "frontdesk_liveness_heartbeats_rejected_total",
		"frontdesk_liveness_heartbeat_gap_seconds",
	} {
		if !found[name] {
			t.Errorf("metric %s not gathered", name)
		}
	}
	if macRejected < 1 {
		t.Errorf("rejected_total{reason=mac} = %v, want ≥ 1", macRejected)
	}
}
