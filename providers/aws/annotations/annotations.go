// Package annotations parses the service.beta.kubernetes.io/aws-load-balancer-*
// annotations of cloud-provider-aws and aws-load-balancer-controller into one
// Spec, so a Service moves to frontdesk without edits. Every value is checked
// before any AWS call: a bad one gives an *Error naming the annotation and the
// accepted values, and an annotation with the prefix that frontdesk does not
// support is refused rather than ignored (a misspelt "internal" must not give
// an internet-facing load balancer).
package annotations

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Prefix of every annotation this package reads.
const Prefix = "service.beta.kubernetes.io/aws-load-balancer-"

// Annotation names (without Prefix for brevity in the table below; the
// constants hold the full names).
const (
	Type                  = Prefix + "type"
	NLBTargetType         = Prefix + "nlb-target-type"
	Internal              = Prefix + "internal"
	Scheme                = Prefix + "scheme"
	Subnets               = Prefix + "subnets"
	EIPAllocations        = Prefix + "eip-allocations"
	SSLCert               = Prefix + "ssl-cert"
	SSLPorts              = Prefix + "ssl-ports"
	SSLNegotiationPolicy  = Prefix + "ssl-negotiation-policy"
	BackendProtocol       = Prefix + "backend-protocol"
	ProxyProtocol         = Prefix + "proxy-protocol"
	HCProtocol            = Prefix + "healthcheck-protocol"
	HCPort                = Prefix + "healthcheck-port"
	HCPath                = Prefix + "healthcheck-path"
	HCHealthy             = Prefix + "healthcheck-healthy-threshold"
	HCUnhealthy           = Prefix + "healthcheck-unhealthy-threshold"
	HCInterval            = Prefix + "healthcheck-interval"
	HCTimeout             = Prefix + "healthcheck-timeout"
	HCSuccessCodes        = Prefix + "healthcheck-success-codes"
	CrossZone             = Prefix + "cross-zone-load-balancing-enabled"
	LBAttributes          = Prefix + "attributes"
	TGAttributes          = Prefix + "target-group-attributes"
	AdditionalTags        = Prefix + "additional-resource-tags"
	IPAddressType         = Prefix + "ip-address-type"
	TargetNodeLabels      = Prefix + "target-node-labels"
	ConnectionIdleTimeout = Prefix + "connection-idle-timeout"
	ConnectionDraining    = Prefix + "connection-draining-enabled"
	DrainingTimeout       = Prefix + "connection-draining-timeout"
)

// Supported lists every annotation name Parse accepts, sorted.
func Supported() []string { return slices.Sorted(maps.Keys(parsers)) }

// LBType is the kind of load balancer.
type LBType string

// TargetType says what the load balancer sends traffic to.
type TargetType string

const (
	NLB LBType = "nlb"
	CLB LBType = "clb"

	TargetInstance TargetType = "instance" // nodes, on the Service's NodePorts
	TargetIP       TargetType = "ip"       // Pod IPs, on the target port
)

// HealthCheck holds the health-check annotations; nil or zero fields keep the default.
type HealthCheck struct {
	Protocol     string `json:"protocol,omitempty"` // TCP, HTTP, HTTPS
	Port         string `json:"port,omitempty"`     // "traffic-port" or a number
	Path         string `json:"path,omitempty"`
	Healthy      int32  `json:"healthyThreshold,omitempty"`
	Unhealthy    int32  `json:"unhealthyThreshold,omitempty"`
	Interval     int32  `json:"intervalSeconds,omitempty"`
	Timeout      int32  `json:"timeoutSeconds,omitempty"`
	SuccessCodes string `json:"successCodes,omitempty"`
}

// Spec is what a Service's annotations ask for. Zero values mean "the default".
type Spec struct {
	Type             LBType            `json:"type"`
	TargetType       TargetType        `json:"targetType"`
	Internal         bool              `json:"internal,omitempty"`
	DualStack        bool              `json:"dualStack,omitempty"`
	Subnets          []string          `json:"subnets,omitempty"` // IDs (subnet-…) or Name tags
	EIPAllocations   []string          `json:"eipAllocations,omitempty"`
	Certificates     []string          `json:"certificates,omitempty"`
	SSLPorts         []string          `json:"sslPorts,omitempty"` // numbers or port names; empty with certificates means all
	SSLPolicy        string            `json:"sslPolicy,omitempty"`
	BackendProtocol  string            `json:"backendProtocol,omitempty"` // tcp, ssl (both), http, https (CLB)
	ProxyProtocol    bool              `json:"proxyProtocol,omitempty"`
	HealthCheck      HealthCheck       `json:"healthCheck"`
	CrossZone        *bool             `json:"crossZone,omitempty"`
	LBAttributes     map[string]string `json:"lbAttributes,omitempty"`
	TGAttributes     map[string]string `json:"tgAttributes,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	TargetNodeLabels string            `json:"targetNodeLabels,omitempty"` // a label selector
	IdleTimeout      int32             `json:"idleTimeoutSeconds,omitempty"`
	Draining         *bool             `json:"connectionDraining,omitempty"`
	DrainingTimeout  int32             `json:"connectionDrainingTimeoutSeconds,omitempty"`
}

// Error is a bad annotation value.
type Error struct {
	Name, Value string
	Accepted    string // what would be accepted, for the user
}

func (e *Error) Error() string {
	return fmt.Sprintf("annotation %s: %q is not accepted; accepted: %s", e.Name, e.Value, e.Accepted)
}

// NotAllowedError is a well-formed annotation that names what the cluster's
// AWS cloud config does not allow (its allow: section): another team's
// certificate or Elastic IP, or a load-balancer attribute such as deletion
// protection. Rule names the config field that decides and Why says what
// the refusal protects; neither lists the allowed values, which are the
// operator's (they may name other accounts and teams).
type NotAllowedError struct {
	Name string // the annotation
	Item string // the refused item: an ARN, allocation ID or attribute key
	Rule string // the cloud config field, e.g. allow.certificateARNPrefixes
	Why  string // optional: what allowing it would cost
}

func (e *NotAllowedError) Error() string {
	msg := fmt.Sprintf("annotation %s: %q is not allowed in this cluster (decided by %s in the AWS cloud config; ask the cluster's operator)", e.Name, e.Item, e.Rule)
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// ErrUnsupported is wrapped by the error for an annotation with the prefix
// that frontdesk does not implement.
var ErrUnsupported = errors.New("is not supported by frontdesk (docs/aws.md lists the supported annotations)")

// IsInvalid reports whether err comes from a bad annotation: the Service must
// be fixed, and retrying with AWS calls would not help.
func IsInvalid(err error) bool {
	var e *Error
	var na *NotAllowedError
	return errors.As(err, &e) || errors.As(err, &na) || errors.Is(err, ErrUnsupported)
}

type parser func(s *Spec, name, v string) error

var parsers = map[string]parser{
	Type:          parseType,
	NLBTargetType: parseTargetType,
	Internal:      parseInternal,
	Scheme:        parseScheme,
	Subnets:       func(s *Spec, n, v string) (err error) { s.Subnets, err = list(n, v, "subnet IDs or Name tags"); return },
	EIPAllocations: func(s *Spec, n, v string) (err error) {
		s.EIPAllocations, err = prefixedList(n, v, "eipalloc-")
		return
	},
	SSLCert:  func(s *Spec, n, v string) (err error) { s.Certificates, err = prefixedList(n, v, "arn:"); return },
	SSLPorts: parseSSLPorts,
	SSLNegotiationPolicy: func(s *Spec, n, v string) error {
		s.SSLPolicy = strings.TrimSpace(v)
		return nonEmpty(n, v, "a policy name")
	},
	BackendProtocol:       oneOf(func(s *Spec, v string) { s.BackendProtocol = v }, "tcp", "ssl", "http", "https"),
	ProxyProtocol:         parseProxyProtocol,
	HCProtocol:            parseHCProtocol,
	HCPort:                parseHCPort,
	HCPath:                parseHCPath,
	HCHealthy:             intIn(func(s *Spec, v int32) { s.HealthCheck.Healthy = v }, 2, 10),
	HCUnhealthy:           intIn(func(s *Spec, v int32) { s.HealthCheck.Unhealthy = v }, 2, 10),
	HCInterval:            intIn(func(s *Spec, v int32) { s.HealthCheck.Interval = v }, 5, 300),
	HCTimeout:             intIn(func(s *Spec, v int32) { s.HealthCheck.Timeout = v }, 2, 120),
	HCSuccessCodes:        parseSuccessCodes,
	CrossZone:             boolean(func(s *Spec, b bool) { s.CrossZone = &b }),
	LBAttributes:          func(s *Spec, n, v string) (err error) { s.LBAttributes, err = keyValues(n, v); return },
	TGAttributes:          func(s *Spec, n, v string) (err error) { s.TGAttributes, err = keyValues(n, v); return },
	AdditionalTags:        parseTags,
	IPAddressType:         oneOf(func(s *Spec, v string) { s.DualStack = v == "dualstack" }, "ipv4", "dualstack"),
	TargetNodeLabels:      parseNodeLabels,
	ConnectionIdleTimeout: intIn(func(s *Spec, v int32) { s.IdleTimeout = v }, 1, 4000),
	ConnectionDraining:    boolean(func(s *Spec, b bool) { s.Draining = &b }),
	DrainingTimeout:       intIn(func(s *Spec, v int32) { s.DrainingTimeout = v }, 1, 3600),
}

// Parse reads every aws-load-balancer-* annotation. All problems are returned
// together, joined, so the user fixes them in one edit.
func Parse(ann map[string]string) (*Spec, error) {
	s := &Spec{Type: NLB, TargetType: TargetInstance}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(ann)) { // sorted: stable messages
		if !strings.HasPrefix(name, Prefix) {
			continue
		}
		p, ok := parsers[name]
		if !ok {
			errs = append(errs, fmt.Errorf("annotation %s %w", name, ErrUnsupported))
			continue
		}
		if err := p(s, name, ann[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.check(ann); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// check refuses combinations that no load balancer can serve.
func (s *Spec) check(ann map[string]string) error {
	if s.Type == CLB {
		if s.TargetType == TargetIP {
			return &Error{Name: NLBTargetType, Value: ann[NLBTargetType], Accepted: "instance (a classic load balancer has no ip targets)"}
		}
		if s.DualStack {
			return &Error{Name: IPAddressType, Value: ann[IPAddressType], Accepted: "ipv4 (a classic load balancer is IPv4 only)"}
		}
		if len(s.EIPAllocations) > 0 {
			return &Error{Name: EIPAllocations, Value: ann[EIPAllocations], Accepted: "none on a classic load balancer"}
		}
	}
	if s.Type == NLB && (s.BackendProtocol == "http" || s.BackendProtocol == "https") {
		return &Error{Name: BackendProtocol, Value: s.BackendProtocol, Accepted: "tcp, ssl (http and https need aws-load-balancer-type: clb)"}
	}
	if len(s.EIPAllocations) > 0 && s.Internal {
		return &Error{Name: EIPAllocations, Value: ann[EIPAllocations], Accepted: "none on an internal load balancer"}
	}
	if len(s.EIPAllocations) > 0 && len(s.Subnets) > 0 && len(s.EIPAllocations) != len(s.Subnets) {
		return &Error{Name: EIPAllocations, Value: ann[EIPAllocations],
			Accepted: fmt.Sprintf("one allocation per subnet (%d subnets named in %s)", len(s.Subnets), Subnets)}
	}
	return nil
}

func parseType(s *Spec, name, v string) error {
	switch strings.TrimSpace(v) {
	case "nlb", "external": // "external": aws-load-balancer-controller's name for an NLB
		s.Type = NLB
	case "nlb-ip": // aws-load-balancer-controller's legacy shorthand
		s.Type, s.TargetType = NLB, TargetIP
	case "clb", "classic":
		s.Type = CLB
	default:
		return &Error{Name: name, Value: v, Accepted: "nlb, external, nlb-ip, clb, classic"}
	}
	return nil
}

func parseTargetType(s *Spec, name, v string) error {
	switch strings.TrimSpace(v) {
	case "instance":
		s.TargetType = TargetInstance
	case "ip":
		s.TargetType = TargetIP
	default:
		return &Error{Name: name, Value: v, Accepted: "instance, ip"}
	}
	return nil
}

// parseInternal accepts cloud-provider-aws's historic values: any CIDR such
// as "0.0.0.0/0" meant internal there too.
func parseInternal(s *Spec, name, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "0.0.0.0/0":
		s.Internal = true
	case "false":
		s.Internal = false
	default:
		return &Error{Name: name, Value: v, Accepted: "true, false, 0.0.0.0/0 (same as true)"}
	}
	return nil
}

func parseScheme(s *Spec, name, v string) error {
	switch strings.TrimSpace(v) {
	case "internal":
		s.Internal = true
	case "internet-facing":
		s.Internal = false
	default:
		return &Error{Name: name, Value: v, Accepted: "internal, internet-facing"}
	}
	return nil
}

func parseSSLPorts(s *Spec, name, v string) error {
	if strings.TrimSpace(v) == "*" {
		s.SSLPorts = nil
		return nil
	}
	ports, err := list(name, v, `"*" or port numbers and names`)
	s.SSLPorts = ports
	return err
}

func parseProxyProtocol(s *Spec, name, v string) error {
	if strings.TrimSpace(v) != "*" {
		return &Error{Name: name, Value: v, Accepted: `"*" (every port)`}
	}
	s.ProxyProtocol = true
	return nil
}

func parseHCProtocol(s *Spec, name, v string) error {
	p := strings.ToUpper(strings.TrimSpace(v))
	switch p {
	case "TCP", "HTTP", "HTTPS":
		s.HealthCheck.Protocol = p
		return nil
	}
	return &Error{Name: name, Value: v, Accepted: "TCP, HTTP, HTTPS"}
}

func parseHCPort(s *Spec, name, v string) error {
	v = strings.TrimSpace(v)
	if v == "traffic-port" {
		s.HealthCheck.Port = v
		return nil
	}
	if p, err := strconv.Atoi(v); err == nil && p >= 1 && p <= 65535 {
		s.HealthCheck.Port = v
		return nil
	}
	return &Error{Name: name, Value: v, Accepted: "traffic-port or a port number 1-65535"}
}

func parseHCPath(s *Spec, name, v string) error {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "/") || len(v) > 1024 {
		return &Error{Name: name, Value: v, Accepted: "an absolute path such as /healthz, at most 1024 characters"}
	}
	s.HealthCheck.Path = v
	return nil
}

// parseSuccessCodes accepts "200", "200,202" or "200-399" (NLB's range is 200-599).
func parseSuccessCodes(s *Spec, name, v string) error {
	bad := &Error{Name: name, Value: v, Accepted: `HTTP codes 200-599 as "200", "200,202" or "200-399"`}
	v = strings.TrimSpace(v)
	for part := range strings.SplitSeq(v, ",") {
		for c := range strings.SplitSeq(part, "-") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 200 || n > 599 {
				return bad
			}
		}
	}
	s.HealthCheck.SuccessCodes = v
	return nil
}

func parseTags(s *Spec, name, v string) error {
	kv, err := keyValues(name, v)
	if err != nil {
		return err
	}
	for k := range kv {
		if strings.HasPrefix(k, "kubernetes.io/") || strings.HasPrefix(k, "frontdesk.dev/") || strings.HasPrefix(k, "aws:") {
			return &Error{Name: name, Value: v, Accepted: "tags outside the reserved prefixes kubernetes.io/, frontdesk.dev/ and aws:"}
		}
	}
	s.Tags = kv
	return nil
}

func parseNodeLabels(s *Spec, name, v string) error {
	sel, err := labels.Parse(v)
	if err != nil {
		return &Error{Name: name, Value: v, Accepted: "a label selector such as role=edge,zone in (a,b)"}
	}
	s.TargetNodeLabels = sel.String()
	return nil
}

func oneOf(set func(*Spec, string), accepted ...string) parser {
	return func(s *Spec, name, v string) error {
		v = strings.TrimSpace(v)
		if !slices.Contains(accepted, v) {
			return &Error{Name: name, Value: v, Accepted: strings.Join(accepted, ", ")}
		}
		set(s, v)
		return nil
	}
}

func boolean(set func(*Spec, bool)) parser {
	return func(s *Spec, name, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return &Error{Name: name, Value: v, Accepted: "true, false"}
		}
		set(s, b)
		return nil
	}
}

func intIn(set func(*Spec, int32), lo, hi int32) parser {
	return func(s *Spec, name, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || int32(n) < lo || int32(n) > hi {
			return &Error{Name: name, Value: v, Accepted: fmt.Sprintf("an integer %d-%d", lo, hi)}
		}
		set(s, int32(n))
		return nil
	}
}

func nonEmpty(name, v, what string) error {
	if strings.TrimSpace(v) == "" {
		return &Error{Name: name, Value: v, Accepted: what}
	}
	return nil
}

// list splits a comma-separated list, refusing empty items.
func list(name, v, what string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, &Error{Name: name, Value: v, Accepted: "a comma-separated list of " + what + " with no empty item"}
		}
		out = append(out, item)
	}
	return out, nil
}

func prefixedList(name, v, prefix string) ([]string, error) {
	items, err := list(name, v, prefix+"…")
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if !strings.HasPrefix(it, prefix) {
			return nil, &Error{Name: name, Value: v, Accepted: "a comma-separated list of " + prefix + "… identifiers"}
		}
	}
	return items, nil
}

// keyValues parses "k1=v1,k2=v2".
func keyValues(name, v string) (map[string]string, error) {
	items, err := list(name, v, "key=value pairs")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &Error{Name: name, Value: v, Accepted: "comma-separated key=value pairs"}
		}
		out[k] = strings.TrimSpace(val)
	}
	return out, nil
}
