package aws_test

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
)

// BenchmarkAWSCalls counts the AWS requests of one Service's create, an
// unchanged resync and a delete (each retry would count; there are none
// here), total and mutating, with 3 nodes and the VPC's subnets already
// described by an earlier Service (they are reused for a minute).
func BenchmarkAWSCalls(b *testing.B) {
	for _, tc := range []struct {
		name  string
		tweak func(*v1.Service)
	}{
		{"nlb-1-port", func(s *v1.Service) { s.Spec.Ports = s.Spec.Ports[:1] }},
		{"nlb-2-ports", func(*v1.Service) {}},
		{"clb-2-ports", objects.WithAnnotations(annotations.Type, "clb")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, envOption{})
			e.mustEnsure(newService("warm-up")) // the subnet cache, as in a running controller
			var create, createMut, resync, resyncMut, del, delMut int
			for i := 0; b.Loop(); i++ {
				svc := newService(fmt.Sprintf("svc-%d", i), tc.tweak)
				e.fake.ResetCalls()
				e.mustEnsure(svc)
				a, m := e.countCalls()
				create, createMut = create+a, createMut+m
				e.fake.ResetCalls()
				e.mustEnsure(svc)
				a, m = e.countCalls()
				resync, resyncMut = resync+a, resyncMut+m
				e.fake.ResetCalls()
				e.mustDelete(svc)
				a, m = e.countCalls()
				del, delMut = del+a, delMut+m
			}
			n := float64(b.N)
			b.ReportMetric(float64(create)/n, "create-calls")
			b.ReportMetric(float64(createMut)/n, "create-mutating")
			b.ReportMetric(float64(resync)/n, "resync-calls")
			b.ReportMetric(float64(resyncMut)/n, "resync-mutating")
			b.ReportMetric(float64(del)/n, "delete-calls")
			b.ReportMetric(float64(delMut)/n, "delete-mutating")
		})
	}
}

// BenchmarkBurst200 creates 200 one-port NLB Services with 10 concurrent
// reconciles against a fake enforcing AWS's request rates (ELBv2 and ELB 40
// burst, 10/s; EC2 100 burst, 20/s) at real speed, with the default limits.
func BenchmarkBurst200(b *testing.B) {
	for b.Loop() {
		e, took := runBurst(b, 200, 10, 1)
		calls := e.fake.Calls()
		b.ReportMetric(float64(throttled(calls)), "throttled")
		b.ReportMetric(float64(len(calls)), "calls")
		b.ReportMetric(took.Seconds(), "burst-s")
		b.ReportMetric(took.Seconds()/200*1000, "ms/service")
	}
}
