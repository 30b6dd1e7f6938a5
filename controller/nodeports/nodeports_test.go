package nodeports

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func svc(name string, nodePorts ...int32) *v1.Service {
	s := objects.Service("default", name, objects.WithType(v1.ServiceTypeNodePort))
	for _, p := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP, NodePort: p})
	}
	return s
}

func TestWatcherCountsAndWarns(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	w := &Watcher{recorder: rec, warnRatio: 0.5, logger: klog.Background()}
	var err error
	if w.ports, err = allocator.NewPortAllocator(allocator.PortRange{First: 30000, Last: 30009}); err != nil {
		t.Fatal(err)
	}
	w.observe(svc("a", 30000, 30001))
	lb := svc("b", 30002)
	lb.Spec.HealthCheckNodePort = 30003
	w.observe(lb)
	if st := w.Stats(); st.Used != 4 {
		t.Fatalf("used = %d, want 4 (two nodePorts, one nodePort, one healthCheckNodePort)", st.Used)
	}
	if len(rec.Events) != 0 {
		t.Fatalf("warned below the threshold: %v", <-rec.Events)
	}
	w.observe(svc("c", 30004))
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, "NodePortRangeNearlyFull") || !strings.Contains(e, "5 of the 10 NodePorts") {
			t.Fatalf("event %q, want a NodePortRangeNearlyFull warning counting 5 of 10", e)
		}
	default:
		t.Fatal("no warning at the threshold")
	}
	// A resync of an unchanged Service adds nothing and warns no more.
	w.observe(svc("c", 30004))
	if len(rec.Events) != 0 {
		t.Fatalf("an unchanged Service warned again: %v", <-rec.Events)
	}
	// Same port for TCP and UDP is one port.
	u := svc("d", 30005)
	u.Spec.Ports = append(u.Spec.Ports, v1.ServicePort{Port: 80, Protocol: v1.ProtocolUDP, NodePort: 30005})
	w.observe(u)
	if st := w.Stats(); st.Used != 6 {
		t.Fatalf("used = %d, want 6", st.Used)
	}
	w.forget(cache.DeletedFinalStateUnknown{Key: "default/a", Obj: svc("a", 30000, 30001)})
	w.forget(lb)
	w.observe(svc("c")) // switched to ClusterIP: its NodePort is gone
	if st := w.Stats(); st.Used != 1 {
		t.Fatalf("used after deletes = %d, want 1", st.Used)
	}
}
