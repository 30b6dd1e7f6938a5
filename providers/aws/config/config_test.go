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
		{"endpoints: {s3: http://x}", "accepted: ec2, elasticloadbalancing, elasticloadbalancingv2"},
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
