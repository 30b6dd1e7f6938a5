// Package config reads the AWS provider's cloud config file, the file named by
// the controller manager's --cloud-config flag.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// Service names accepted under endpoints:, the SDK's service IDs in lower case.
const (
	ServiceEC2   = "ec2"
	ServiceELB   = "elasticloadbalancing"
	ServiceELBv2 = "elasticloadbalancingv2"
	// ServiceTagging is the Resource Groups Tagging API, through which the cluster's resources are listed by tag.
	ServiceTagging = "resourcegroupstaggingapi"
	DefaultSweep   = 10 * time.Minute
	DefaultHCPort  = 10256 // the node proxy's /healthz (kube-proxy and frontdesk's proxy agree on it)
)

// HealthCheckMode says what the load balancer probes on a Service with
// externalTrafficPolicy: Cluster (Local always probes healthCheckNodePort).
type HealthCheckMode string

const (
	// HealthCheckTraffic opens a TCP connection to the traffic port.
	HealthCheckTraffic HealthCheckMode = "traffic-port"
	// HealthCheckNodeProxy asks the node proxy's health endpoint over HTTP, so a
	// node whose proxy is down stops getting traffic.
	HealthCheckNodeProxy HealthCheckMode = "node-proxy"
)

// Config is the cloud config file. Every field but clusterName has a default.
type Config struct {
	// ClusterName is the value in kubernetes.io/cluster/<name>; it decides what
	// this controller owns. Empty means the controller manager's --cluster-name.
	ClusterName string `json:"clusterName,omitempty"`
	// Region of the cluster; empty means the SDK's default chain (AWS_REGION,
	// the shared config, the instance metadata).
	Region string `json:"region,omitempty"`
	// VPCID where load balancers and their target groups live; empty means
	// the VPC of the first subnet tagged for the cluster.
	VPCID string `json:"vpcID,omitempty"`
	// Endpoints overrides service endpoints by SDK service ID (ec2,
	// elasticloadbalancing, elasticloadbalancingv2, resourcegroupstaggingapi). The SDK's
	// AWS_ENDPOINT_URL_<SERVICE> variables work too; this file wins.
	Endpoints map[string]string `json:"endpoints,omitempty"`
	// NodeSelector limits the nodes registered as targets of every load
	// balancer (a label selector, e.g. "node-role.kubernetes.io/lb=true"); a
	// Service narrows it further with aws-load-balancer-target-node-labels.
	NodeSelector string `json:"nodeSelector,omitempty"`
	// HealthCheck for externalTrafficPolicy: Cluster: traffic-port (default) or node-proxy.
	HealthCheck HealthCheckMode `json:"healthCheck,omitempty"`
	// NodeProxyHealthPort is the node proxy's health port (default 10256).
	NodeProxyHealthPort int32 `json:"nodeProxyHealthPort,omitempty"`
	// SweepInterval is the time between sweeps of owned resources whose
	// Service is gone (default 10m; a negative value turns the sweep off).
	SweepInterval Duration `json:"sweepInterval,omitempty"`
	// SweepDryRun reports what the sweep would delete and deletes nothing.
	SweepDryRun bool `json:"sweepDryRun,omitempty"`
	// DisableRateLimits turns the client-side rate limits off (tests only).
	DisableRateLimits bool `json:"disableRateLimits,omitempty"`
	// Allow says which AWS resources and attributes a Service's annotations
	// may name (allow.go).
	Allow Allow `json:"allow,omitzero"`
}

// Duration is a time.Duration written as "90s" in the file.
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 90s, 10m): %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid AWS cloud config")

// Read parses the cloud config; a nil reader (no --cloud-config) gives the defaults.
func Read(r io.Reader) (*Config, error) {
	c := &Config{}
	if r != nil {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		if err := yaml.UnmarshalStrict(b, c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	c.Default()
	return c, c.Validate()
}

// Default fills the defaults in.
func (c *Config) Default() {
	if c.HealthCheck == "" {
		c.HealthCheck = HealthCheckTraffic
	}
	if c.NodeProxyHealthPort == 0 {
		c.NodeProxyHealthPort = DefaultHCPort
	}
	if c.SweepInterval.Duration == 0 {
		c.SweepInterval.Duration = DefaultSweep
	}
}

// Validate says what is wrong and what is accepted.
func (c *Config) Validate() error {
	var errs []error
	known := []string{ServiceEC2, ServiceELB, ServiceELBv2, ServiceTagging}
	for svc, u := range c.Endpoints {
		if !slices.Contains(known, svc) {
			errs = append(errs, fmt.Errorf("endpoints: unknown service %q, accepted: %s", svc, strings.Join(known, ", ")))
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("endpoints.%s: %q is not an absolute URL (e.g. https://ec2.eu-west-1.amazonaws.com)", svc, u))
		}
	}
	if _, err := labels.Parse(c.NodeSelector); err != nil {
		errs = append(errs, fmt.Errorf("nodeSelector: %w", err))
	}
	if c.HealthCheck != HealthCheckTraffic && c.HealthCheck != HealthCheckNodeProxy {
		errs = append(errs, fmt.Errorf("healthCheck: %q, accepted: %s, %s", c.HealthCheck, HealthCheckTraffic, HealthCheckNodeProxy))
	}
	if c.NodeProxyHealthPort < 1 || c.NodeProxyHealthPort > 65535 {
		errs = append(errs, fmt.Errorf("nodeProxyHealthPort: %d, accepted: 1-65535", c.NodeProxyHealthPort))
	}
	errs = append(errs, c.Allow.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// Selector is the parsed NodeSelector (Validate has checked it).
func (c *Config) Selector() labels.Selector {
	s, err := labels.Parse(c.NodeSelector)
	if err != nil {
		return labels.Nothing()
	}
	return s
}
