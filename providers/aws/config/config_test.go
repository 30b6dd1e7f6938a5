package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	c, err := Read(strings.NewReader(`
clusterName: prod
region: eu-west-1
endpoints:
  ec2: http://127.0.0.1:4566
nodeSelector: role=edge
sweepInterval: 90s
sweepDryRun: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterName != "prod" || c.Endpoints[ServiceEC2] != "http://127.0.0.1:4566" || c.SweepInterval.Duration != 90*time.Second ||
		!c.SweepDryRun || c.HealthCheck != HealthCheckTraffic || c.NodeProxyHealthPort != DefaultHCPort {
		t.Errorf("Read gave %+v", c)
	}
	if d, err := Read(nil); err != nil || d.SweepInterval.Duration != DefaultSweep {
		t.Errorf("Read(nil) = %+v, %v", d, err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"endpoints: {s3: http://x}", "accepted: ec2, elasticloadbalancing, elasticloadbalancingv2, resourcegroupstaggingapi"},
		{"endpoints: {ec2: not-a-url}", "not an absolute URL"},
		{"nodeSelector: 'a=(b'", "nodeSelector"},
		{"healthCheck: icmp", "accepted: traffic-port, node-proxy"},
		{"sweepInterval: soon", "not a duration"},
		{"clusterNmae: x", "unknown field"},
	} {
		_, err := Read(strings.NewReader(tc.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%q) = %v, want ErrInvalid containing %q", tc.in, err, tc.want)
		}
	}
}

func TestAllow(t *testing.T) {
	c, err := Read(strings.NewReader(`
allow:
  certificateARNPrefixes: ["arn:aws:acm:eu-west-1:123456789012:certificate/"]
  eipAllocationIDs: [eipalloc-1]
  eipAllocationTags: {eip-for: "{namespace}"}
  loadBalancerAttributes: ["*"]
  targetGroupAttributes: []
`))
	if err != nil {
		t.Fatal(err)
	}
	a := &c.Allow
	for _, tc := range []struct {
		what string
		got  bool
		want bool
	}{
		{"certificate under the prefix", a.CertificateAllowed("arn:aws:acm:eu-west-1:123456789012:certificate/x"), true},
		{"certificate of another account", a.CertificateAllowed("arn:aws:acm:eu-west-1:210987654321:certificate/x"), false},
		{"listed Elastic IP", a.EIPAllowedByID("eipalloc-1"), true},
		{"other Elastic IP", a.EIPAllowedByID("eipalloc-2"), false},
		{"* covers an attribute", a.LoadBalancerAttributeAllowed("access_logs.s3.enabled"), true},
		{"* does not cover deletion protection", a.LoadBalancerAttributeAllowed(DeletionProtection), false},
		{"[] allows no target-group attribute", a.TargetGroupAttributeAllowed("stickiness.enabled"), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if got := a.EIPTags("shop"); got["eip-for"] != "shop" {
		t.Errorf("EIPTags(shop) = %v, want the namespace in place of {namespace}", got)
	}

	var d Allow // no allow: section
	if d.CertificateAllowed("arn:aws:acm:eu-west-1:123456789012:certificate/x") || d.EIPAllowedByID("eipalloc-1") || d.EIPTags("shop") != nil {
		t.Error("the default allows a certificate or an Elastic IP")
	}
	if !d.LoadBalancerAttributeAllowed("load_balancing.cross_zone.enabled") || d.LoadBalancerAttributeAllowed("access_logs.s3.bucket") ||
		d.LoadBalancerAttributeAllowed(DeletionProtection) || !d.TargetGroupAttributeAllowed("stickiness.enabled") {
		t.Error("default attribute keys: want cross-zone and every target-group key, not access logs or deletion protection")
	}
	explicit := Allow{LoadBalancerAttributes: []string{DeletionProtection}}
	if !explicit.LoadBalancerAttributeAllowed(DeletionProtection) {
		t.Error("deletion protection listed by name is refused")
	}
}

func TestAllowErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"allow: {certificateARNPrefixes: [acm]}", "allow.certificateARNPrefixes"},
		{"allow: {eipAllocationIDs: [203.0.113.1]}", "allow.eipAllocationIDs"},
		{"allow: {loadBalancerAttributes: ['a=b']}", "allow.loadBalancerAttributes"},
		{"allow: {targetGroupAttributes: ['']}", "allow.targetGroupAttributes"},
		{"allow: {certificates: []}", "unknown field"},
	} {
		_, err := Read(strings.NewReader(tc.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%q) = %v, want ErrInvalid containing %q", tc.in, err, tc.want)
		}
	}
}
