package aws_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
)

// TestAllowListRefusesBeforeAnyCall: an annotation naming a certificate, an
// attribute or an Elastic IP outside the cloud config's allow list is
// refused with an error naming the annotation, the item and the config
// field (the service controller's Warning Event), and AWS hears nothing.
func TestAllowListRefusesBeforeAnyCall(t *testing.T) {
	e := newEnv(t, envOption{cfg: func(c *config.Config) {
		allowCerts(c)
		c.Allow.LoadBalancerAttributes = []string{config.AnyKey}
		c.Allow.TargetGroupAttributes = []string{"deregistration_delay.timeout_seconds"}
		c.Allow.EIPAllocationIDs = []string{"eipalloc-0aaaaaaaaaaaaaaaa"}
	}})
	for _, tc := range []struct {
		name     string
		ann      []string
		item     string // what the error must quote
		why      string // and say
		annotate string // the annotation it must name
	}{
		{"another account's certificate", []string{annotations.SSLCert, "arn:aws:acm:eu-west-1:210987654321:certificate/theirs"},
			"arn:aws:acm:eu-west-1:210987654321:certificate/theirs", "allow.certificateARNPrefixes", annotations.SSLCert},
		{"deletion protection needs naming, * is not enough", []string{annotations.LBAttributes, "deletion_protection.enabled=true"},
			"deletion_protection.enabled", "cannot be deleted", annotations.LBAttributes},
		{"target group attribute not listed", []string{annotations.TGAttributes, "stickiness.enabled=true"},
			"stickiness.enabled", "allow.targetGroupAttributes", annotations.TGAttributes},
		{"Elastic IP not listed", []string{annotations.EIPAllocations, "eipalloc-0bbbbbbbbbbbbbbbb"},
			"eipalloc-0bbbbbbbbbbbbbbbb", "allow.eipAllocationIDs", annotations.EIPAllocations},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.fake.ResetCalls()
			err := e.ensure(newService("refused", objects.WithAnnotations(tc.ann...)))
			var na *annotations.NotAllowedError
			if !errors.As(err, &na) || !annotations.IsInvalid(err) {
				t.Fatalf("error %v: want a NotAllowedError", err)
			}
			for _, want := range []string{tc.annotate, tc.item, tc.why} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if calls := e.fake.Calls(); len(calls) != 0 {
				t.Errorf("%d AWS calls for a refused Service, first %s", len(calls), calls[0].Action)
			}
		})
	}
}

// TestDefaultAllowList: without an allow: section no certificate, no
// Elastic IP and only the harmless load-balancer attributes are accepted.
func TestDefaultAllowList(t *testing.T) {
	e := newEnv(t, envOption{})
	for _, ann := range [][]string{
		{annotations.SSLCert, certPrefix + "0e1f"},
		{annotations.EIPAllocations, e.fake.AddEIP(netip.MustParseAddr("203.0.113.20"), nil)},
		{annotations.LBAttributes, "access_logs.s3.bucket=elsewhere"},
		{annotations.LBAttributes, "deletion_protection.enabled=true"},
	} {
		e.fake.ResetCalls()
		err := e.ensure(newService("default", objects.WithAnnotations(ann...)))
		var na *annotations.NotAllowedError
		if !errors.As(err, &na) || na.Name != ann[0] {
			t.Errorf("%s=%s: error %v, want it refused", ann[0], ann[1], err)
		}
		if calls := e.fake.Calls(); len(calls) != 0 {
			t.Errorf("%s=%s: %d AWS calls", ann[0], ann[1], len(calls))
		}
	}
	svc := newService("harmless", objects.WithAnnotations(annotations.LBAttributes, "dns_record.client_routing_policy=availability_zone_affinity",
		annotations.TGAttributes, "deregistration_delay.timeout_seconds=30"))
	e.mustEnsure(svc)
	if got := e.nlb(svc).attrs["dns_record.client_routing_policy"]; got != "availability_zone_affinity" {
		t.Errorf("dns_record.client_routing_policy = %q, want the allowed value set", got)
	}
}

// TestAllowListEIPByTag: an Elastic IP is allowed by tags naming the
// Service's namespace; one tagged for another namespace, or one that does not
// exist, is refused with the same words, after one read-only call.
func TestAllowListEIPByTag(t *testing.T) {
	e := newEnv(t, envOption{cfg: func(c *config.Config) {
		c.Allow.EIPAllocationTags = map[string]string{"frontdesk-eip-namespace": "{namespace}"}
	}})
	ours := e.fake.AddEIP(netip.MustParseAddr("203.0.113.30"), map[string]string{"frontdesk-eip-namespace": "shop"})
	ours2 := e.fake.AddEIP(netip.MustParseAddr("203.0.113.31"), map[string]string{"frontdesk-eip-namespace": "shop"})
	theirs := e.fake.AddEIP(netip.MustParseAddr("203.0.113.32"), map[string]string{"frontdesk-eip-namespace": "bank"})
	missing := "eipalloc-0cccccccccccccccc"
	pub := "public-a," + e.subnets["public-b"]

	var msgs []string
	for _, id := range []string{theirs, missing} {
		e.fake.ResetCalls()
		err := e.ensure(newService("eip", objects.WithAnnotations(annotations.Subnets, pub, annotations.EIPAllocations, ours+","+id)))
		var na *annotations.NotAllowedError
		if !errors.As(err, &na) || na.Item != id {
			t.Fatalf("%s: error %v, want %s refused", id, err, id)
		}
		msgs = append(msgs, strings.ReplaceAll(err.Error(), id, "ID"))
		if m := e.mutating(); len(m) != 0 {
			t.Errorf("%s: mutating calls %v for a refused Service", id, m)
		}
		if calls := e.fake.Calls(); len(calls) != 1 || calls[0].Action != "DescribeAddresses" {
			t.Errorf("%s: calls %v, want one DescribeAddresses", id, calls)
		}
	}
	if msgs[0] != msgs[1] {
		t.Errorf("another namespace's Elastic IP and a missing one read differently:\n%s\n%s", msgs[0], msgs[1])
	}
	svc := newService("eip", objects.WithAnnotations(annotations.Subnets, pub, annotations.EIPAllocations, ours+","+ours2))
	e.mustEnsure(svc)
	if n := len(e.nlb(svc).lb.AvailabilityZones); n != 2 {
		t.Errorf("load balancer in %d zones, want 2 with their Elastic IPs", n)
	}
}
