package annotations

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestParse(t *testing.T) {
	base := func(f func(*Spec)) *Spec {
		s := &Spec{Type: NLB, TargetType: TargetInstance}
		if f != nil {
			f(s)
		}
		return s
	}
	tests := []struct {
		name string
		ann  map[string]string
		want *Spec
	}{
		{"none", nil, base(nil)},
		{"other prefixes ignored", map[string]string{"example.com/x": "y"}, base(nil)},
		{"type nlb", map[string]string{Type: "nlb"}, base(nil)},
		{"type external (LBC)", map[string]string{Type: "external"}, base(nil)},
		{"type nlb-ip (LBC)", map[string]string{Type: "nlb-ip"}, base(func(s *Spec) { s.TargetType = TargetIP })},
		{"type clb", map[string]string{Type: "clb"}, base(func(s *Spec) { s.Type = CLB })},
		{"type classic", map[string]string{Type: "classic"}, base(func(s *Spec) { s.Type = CLB })},
		{"target type ip", map[string]string{NLBTargetType: "ip"}, base(func(s *Spec) { s.TargetType = TargetIP })},
		{"target type instance", map[string]string{NLBTargetType: "instance"}, base(nil)},
		{"internal true", map[string]string{Internal: "true"}, base(func(s *Spec) { s.Internal = true })},
		{"internal legacy cidr", map[string]string{Internal: "0.0.0.0/0"}, base(func(s *Spec) { s.Internal = true })},
		{"internal false", map[string]string{Internal: "false"}, base(nil)},
		{"scheme internal", map[string]string{Scheme: "internal"}, base(func(s *Spec) { s.Internal = true })},
		{"scheme internet-facing", map[string]string{Scheme: "internet-facing"}, base(nil)},
		{"subnets", map[string]string{Subnets: "subnet-1, public-b"}, base(func(s *Spec) { s.Subnets = []string{"subnet-1", "public-b"} })},
		{"eips", map[string]string{EIPAllocations: "eipalloc-1,eipalloc-2"}, base(func(s *Spec) { s.EIPAllocations = []string{"eipalloc-1", "eipalloc-2"} })},
		{"cert", map[string]string{SSLCert: "arn:aws:acm:r:1:certificate/x"}, base(func(s *Spec) { s.Certificates = []string{"arn:aws:acm:r:1:certificate/x"} })},
		{"ssl ports", map[string]string{SSLPorts: "443,https"}, base(func(s *Spec) { s.SSLPorts = []string{"443", "https"} })},
		{"ssl ports all", map[string]string{SSLPorts: "*"}, base(nil)},
		{"ssl policy", map[string]string{SSLNegotiationPolicy: "ELBSecurityPolicy-2016-08"}, base(func(s *Spec) { s.SSLPolicy = "ELBSecurityPolicy-2016-08" })},
		{"backend ssl", map[string]string{BackendProtocol: "ssl"}, base(func(s *Spec) { s.BackendProtocol = "ssl" })},
		{"proxy protocol", map[string]string{ProxyProtocol: "*"}, base(func(s *Spec) { s.ProxyProtocol = true })},
		{"health check", map[string]string{HCProtocol: "http", HCPort: "8080", HCPath: "/ready", HCHealthy: "4",
			HCUnhealthy: "5", HCInterval: "30", HCTimeout: "20", HCSuccessCodes: "200-299"},
			base(func(s *Spec) {
				s.HealthCheck = HealthCheck{Protocol: "HTTP", Port: "8080", Path: "/ready", Healthy: 4, Unhealthy: 5, Interval: 30, Timeout: 20, SuccessCodes: "200-299"}
			})},
		{"health check traffic port", map[string]string{HCPort: "traffic-port"}, base(func(s *Spec) { s.HealthCheck.Port = "traffic-port" })},
		{"cross zone", map[string]string{CrossZone: "true"}, base(func(s *Spec) { s.CrossZone = ptr(true) })},
		{"lb attributes", map[string]string{LBAttributes: "a=1, b = 2"}, base(func(s *Spec) { s.LBAttributes = map[string]string{"a": "1", "b": "2"} })},
		{"tg attributes", map[string]string{TGAttributes: "deregistration_delay.timeout_seconds=10"},
			base(func(s *Spec) { s.TGAttributes = map[string]string{"deregistration_delay.timeout_seconds": "10"} })},
		{"tags", map[string]string{AdditionalTags: "team=a,empty="}, base(func(s *Spec) { s.Tags = map[string]string{"team": "a", "empty": ""} })},
		{"dualstack", map[string]string{IPAddressType: "dualstack"}, base(func(s *Spec) { s.DualStack = true })},
		{"ipv4", map[string]string{IPAddressType: "ipv4"}, base(nil)},
		{"node labels", map[string]string{TargetNodeLabels: "role=edge,zone"}, base(func(s *Spec) { s.TargetNodeLabels = "role=edge,zone" })},
		{"clb settings", map[string]string{Type: "clb", ConnectionIdleTimeout: "120", ConnectionDraining: "true", DrainingTimeout: "60"},
			base(func(s *Spec) { s.Type, s.IdleTimeout, s.Draining, s.DrainingTimeout = CLB, 120, ptr(true), 60 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.ann)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Parse (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		ann      map[string]string
		name     string // the annotation the error must name
		accepted string // part of the accepted values it must list
	}{
		{map[string]string{Type: "alb"}, Type, "nlb, external, nlb-ip, clb"},
		{map[string]string{NLBTargetType: "pod"}, NLBTargetType, "instance, ip"},
		{map[string]string{Internal: "yes"}, Internal, "true, false"},
		{map[string]string{Scheme: "public"}, Scheme, "internal, internet-facing"},
		{map[string]string{Subnets: "a,,b"}, Subnets, "no empty item"},
		{map[string]string{EIPAllocations: "1.2.3.4"}, EIPAllocations, "eipalloc-"},
		{map[string]string{SSLCert: "cert-1"}, SSLCert, "arn:"},
		{map[string]string{SSLPorts: "443,"}, SSLPorts, "port numbers and names"},
		{map[string]string{SSLNegotiationPolicy: " "}, SSLNegotiationPolicy, "a policy name"},
		{map[string]string{BackendProtocol: "grpc"}, BackendProtocol, "tcp, ssl, http, https"},
		{map[string]string{ProxyProtocol: "true"}, ProxyProtocol, `"*"`},
		{map[string]string{HCProtocol: "udp"}, HCProtocol, "TCP, HTTP, HTTPS"},
		{map[string]string{HCPort: "70000"}, HCPort, "traffic-port or a port number"},
		{map[string]string{HCPath: "healthz"}, HCPath, "absolute path"},
		{map[string]string{HCHealthy: "1"}, HCHealthy, "2-10"},
		{map[string]string{HCUnhealthy: "eleven"}, HCUnhealthy, "2-10"},
		{map[string]string{HCInterval: "1"}, HCInterval, "5-300"},
		{map[string]string{HCTimeout: "0"}, HCTimeout, "2-120"},
		{map[string]string{HCSuccessCodes: "100"}, HCSuccessCodes, "200-599"},
		{map[string]string{CrossZone: "maybe"}, CrossZone, "true, false"},
		{map[string]string{LBAttributes: "novalue"}, LBAttributes, "key=value"},
		{map[string]string{TGAttributes: "=1"}, TGAttributes, "key=value"},
		{map[string]string{AdditionalTags: "kubernetes.io/cluster/x=owned"}, AdditionalTags, "reserved prefixes"},
		{map[string]string{IPAddressType: "ipv6"}, IPAddressType, "ipv4, dualstack"},
		{map[string]string{TargetNodeLabels: "a=(b"}, TargetNodeLabels, "label selector"},
		{map[string]string{ConnectionIdleTimeout: "0"}, ConnectionIdleTimeout, "1-4000"},
		{map[string]string{ConnectionDraining: "on"}, ConnectionDraining, "true, false"},
		{map[string]string{DrainingTimeout: "-1"}, DrainingTimeout, "1-3600"},
		{map[string]string{Type: "clb", NLBTargetType: "ip"}, NLBTargetType, "no ip targets"},
		{map[string]string{Type: "clb", IPAddressType: "dualstack"}, IPAddressType, "IPv4 only"},
		{map[string]string{BackendProtocol: "http"}, BackendProtocol, "need aws-load-balancer-type: clb"},
		{map[string]string{Internal: "true", EIPAllocations: "eipalloc-1"}, EIPAllocations, "internal"},
		{map[string]string{Subnets: "a,b", EIPAllocations: "eipalloc-1"}, EIPAllocations, "one allocation per subnet"},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.name, Prefix), func(t *testing.T) {
			_, err := Parse(tc.ann)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Parse(%v) = %v, want an *Error", tc.ann, err)
			}
			if !IsInvalid(err) || ae.Name != tc.name || !strings.Contains(err.Error(), tc.accepted) {
				t.Errorf("error %q: want it to name %s and accept %q", err, tc.name, tc.accepted)
			}
		})
	}
}

func TestParseUnsupportedAndJoined(t *testing.T) {
	_, err := Parse(map[string]string{Prefix + "interal": "true", Type: "alb", Prefix + "access-log-enabled": "true"})
	if !errors.Is(err, ErrUnsupported) || !IsInvalid(err) {
		t.Fatalf("error %v: want ErrUnsupported", err)
	}
	for _, want := range []string{Prefix + "interal", Prefix + "access-log-enabled", Type} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestSupportedHasEveryConstant(t *testing.T) {
	if got := len(Supported()); got != len(parsers) || got < 28 {
		t.Errorf("Supported() lists %d names", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("nlb", "200-399", "a=b,c=d")
	f.Fuzz(func(t *testing.T, typ, codes, kv string) {
		_, err := Parse(map[string]string{Type: typ, HCSuccessCodes: codes, LBAttributes: kv})
		if err != nil && !IsInvalid(err) {
			t.Fatalf("error %v is not an annotation error", err)
		}
	})
}
