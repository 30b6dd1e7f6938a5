//go:build netns

package proxy

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// TestKernelOrphanFlowsAtRestart: a UDP flow runs to the Service "dns" through ep1; the proxy
// stops; while none runs, the Service's endpoint moves to ep2 (ep1 still answers, as a Pod
// being replaced may); the new proxy's first sync deletes the flow's conntrack entry, so the
// running flow moves to ep2 instead of staying on ep1 until its sender stops (issue 17, Also).
func TestKernelOrphanFlowsAtRestart(t *testing.T) {
	eachFamily(t, func(t *testing.T, p kernelPlan) {
		k := newKernelNet(t, p)
		echo(t, k.ep1, "ep1")
		echo(t, k.ep2, "ep2")
		k.start(t)
		e1, e2 := ep{ip: p.ep1, node: testNode}, ep{ip: p.ep2, node: testNode}
		f := openFlows(t, k, p, e1)
		k.stop(t)

		// The new proxy is fed everything before its first sync, as informers do before it
		// counts the caches synced.
		k.proxy = k.build(t)
		k.proxy.store.setSynced()
		k.program(t,
			newService("web", clusterIP(p.svc(1))), newSlice("web", "web-1", v1.ProtocolTCP, e1),
			newService("dns", clusterIP(p.svc(10)), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, e2))
		if got, err := f.sendUDP(); err != nil || !strings.HasPrefix(got, "ep2 ") {
			t.Errorf("the running UDP flow after the restart: %q, %v; want ep2 (its entry to ep1 cleared at start)", got, err)
		}
	})
}
