// Package model turns a Service, its nodes and endpoints, the VPC's subnets
// and the cloud config into the load balancer it should have. Build is a pure
// function (golden-tested as JSON); the managers in providers/aws converge AWS
// to its result.
package model

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
)

// Owner is the Service a resource belongs to.
type Owner struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Subnet is one subnet of the cluster's VPC, as EC2 describes it.
type Subnet struct {
	ID   string            `json:"id"`
	Zone string            `json:"zone"`
	Tags map[string]string `json:"tags,omitempty"`
}

// Endpoint is one ready Pod address behind the Service, with its ports by name
// ("" for an unnamed port).
type Endpoint struct {
	Addr  netip.Addr
	Ports map[string]int32
}

// Input is everything Build reads.
type Input struct {
	Cluster   string
	Service   *v1.Service
	Spec      *annotations.Spec
	Nodes     []*v1.Node
	Endpoints []Endpoint // for ip targets
	Subnets   []Subnet   // every subnet of the VPC
	Config    *config.Config
}

// LoadBalancer is the desired state of one Service's load balancer.
type LoadBalancer struct {
	Owner          Owner              `json:"owner"`
	Name           string             `json:"name"`
	Type           annotations.LBType `json:"type"`
	Scheme         string             `json:"scheme"`        // internal, internet-facing
	IPAddressType  string             `json:"ipAddressType"` // ipv4, dualstack
	SubnetMappings []SubnetMapping    `json:"subnetMappings"`
	Tags           map[string]string  `json:"tags"`
	Attributes     map[string]string  `json:"attributes,omitempty"` // NLB
	Listeners      []Listener         `json:"listeners"`
	SecurityGroup  SecurityGroup      `json:"securityGroup"`
	Classic        *Classic           `json:"classic,omitempty"`
}

// SubnetMapping places the load balancer in a subnet, with an Elastic IP.
type SubnetMapping struct {
	SubnetID     string `json:"subnetID"`
	AllocationID string `json:"allocationID,omitempty"`
}

// Listener is one front-end port.
type Listener struct {
	Port         int32    `json:"port"`
	Protocol     string   `json:"protocol"` // NLB: TCP, UDP, TLS; CLB: TCP, SSL, HTTP, HTTPS
	Certificates []string `json:"certificates,omitempty"`
	SSLPolicy    string   `json:"sslPolicy,omitempty"`
	// NLB: where the listener forwards.
	TargetGroup *TargetGroup `json:"targetGroup,omitempty"`
	// CLB: the instance side.
	InstancePort     int32  `json:"instancePort,omitempty"`
	InstanceProtocol string `json:"instanceProtocol,omitempty"`
}

// TargetGroup is an NLB target group.
type TargetGroup struct {
	Name          string            `json:"name"`
	Protocol      string            `json:"protocol"`
	Port          int32             `json:"port"`
	TargetType    string            `json:"targetType"`
	IPAddressType string            `json:"ipAddressType"`
	HealthCheck   HealthCheck       `json:"healthCheck"`
	Attributes    map[string]string `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	Targets       []Target          `json:"targets"`
}

// Target is an instance ID or IP address with its port.
type Target struct {
	ID   string `json:"id"`
	Port int32  `json:"port"`
}

// HealthCheck of a target group (NLB) or load balancer (CLB).
type HealthCheck struct {
	Protocol     string `json:"protocol"`
	Port         string `json:"port"` // "traffic-port" or a number
	Path         string `json:"path,omitempty"`
	Healthy      int32  `json:"healthyThreshold"`
	Unhealthy    int32  `json:"unhealthyThreshold"`
	Interval     int32  `json:"intervalSeconds"`
	Timeout      int32  `json:"timeoutSeconds"`
	SuccessCodes string `json:"successCodes,omitempty"`
}

// SecurityGroup in front of the load balancer: loadBalancerSourceRanges as rules.
type SecurityGroup struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
	Rules       []Rule            `json:"rules"`
}

// Rule admits one protocol and port from one prefix.
type Rule struct {
	Protocol string       `json:"protocol"` // tcp, udp
	Port     int32        `json:"port"`
	CIDR     netip.Prefix `json:"cidr"`
}

// Classic holds what only a classic load balancer has.
type Classic struct {
	Instances          []string    `json:"instances"`
	HealthCheck        HealthCheck `json:"healthCheck"`
	CrossZone          bool        `json:"crossZone"`
	IdleTimeout        int32       `json:"idleTimeoutSeconds"`
	Draining           bool        `json:"connectionDraining"`
	DrainingTimeout    int32       `json:"connectionDrainingTimeoutSeconds"`
	ProxyProtocolPorts []int32     `json:"proxyProtocolPorts,omitempty"`
}

// Errors about the cluster rather than the annotations.
var (
	ErrNoSubnets = errors.New("no subnet for the load balancer: tag one subnet per zone with " +
		"kubernetes.io/role/elb=1 (internet-facing) or kubernetes.io/role/internal-elb=1 (internal), " +
		"or name them in " + annotations.Subnets)
	ErrNoPorts = errors.New("the Service has no port a load balancer can serve")
)

// SourceRangesAnnotation is the standard (not AWS-specific) source-range annotation.
const SourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges"

// Build returns the load balancer in desired.
func Build(in Input) (*LoadBalancer, error) {
	svc, spec := in.Service, in.Spec
	o := Owner{Namespace: svc.Namespace, Name: svc.Name, UID: string(svc.UID)}
	lb := &LoadBalancer{
		Owner:         o,
		Type:          spec.Type,
		Scheme:        "internet-facing",
		IPAddressType: "ipv4",
	}
	if spec.Internal {
		lb.Scheme = "internal"
	}
	if spec.DualStack {
		lb.IPAddressType = "dualstack"
	}
	lb.Tags = withExtra(OwnerTags(in.Cluster, o, ResourceLoadBalancer), spec.Tags)
	var err error
	if lb.SubnetMappings, err = pickSubnets(in); err != nil {
		return nil, err
	}
	lb.Name = LoadBalancerName(in.Cluster, svc, spec)
	ranges, err := sourceRanges(svc, spec.DualStack)
	if err != nil {
		return nil, err
	}
	if spec.Type == annotations.CLB {
		err = buildClassic(in, lb)
	} else {
		err = buildNetwork(in, lb)
	}
	if err != nil {
		return nil, err
	}
	lb.SecurityGroup = SecurityGroup{
		Name:        sgName(in.Cluster, o, lb.Name),
		Description: fmt.Sprintf("frontdesk: load balancer of Service %s/%s", o.Namespace, o.Name),
		Tags:        withExtra(OwnerTags(in.Cluster, o, ResourceSecurityGroup), spec.Tags),
	}
	for _, l := range lb.Listeners {
		proto := "tcp"
		if l.Protocol == "UDP" {
			proto = "udp"
		}
		for _, r := range ranges {
			lb.SecurityGroup.Rules = append(lb.SecurityGroup.Rules, Rule{Protocol: proto, Port: l.Port, CIDR: r})
		}
	}
	return lb, nil
}

func buildNetwork(in Input, lb *LoadBalancer) error {
	svc, spec := in.Service, in.Spec
	crossZone := "false"
	if spec.CrossZone != nil {
		crossZone = strconv.FormatBool(*spec.CrossZone)
	}
	lb.Attributes = map[string]string{"load_balancing.cross_zone.enabled": crossZone}
	if v, ok := spec.LBAttributes["load_balancing.cross_zone.enabled"]; ok && spec.CrossZone != nil && v != crossZone {
		return &annotations.Error{Name: annotations.LBAttributes, Value: "load_balancing.cross_zone.enabled=" + v,
			Accepted: "a value that agrees with " + annotations.CrossZone}
	}
	maps.Copy(lb.Attributes, spec.LBAttributes)

	tgAttrs := map[string]string{"proxy_protocol_v2.enabled": strconv.FormatBool(spec.ProxyProtocol)}
	maps.Copy(tgAttrs, spec.TGAttributes)
	instances := instanceTargets(in)
	seen := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		if prev, dup := seen[p.Port]; dup {
			return fmt.Errorf("port %d is declared for both %s and %s: frontdesk gives each port one listener, so use distinct ports", p.Port, prev, p.Protocol)
		}
		seen[p.Port] = string(p.Protocol)
		l := Listener{Port: p.Port}
		tgProto := "TCP"
		switch p.Protocol {
		case v1.ProtocolTCP, "":
			l.Protocol = "TCP"
			if tlsPort(spec, p) {
				l.Protocol, l.Certificates, l.SSLPolicy = "TLS", spec.Certificates, spec.SSLPolicy
				if l.SSLPolicy == "" {
					l.SSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
				}
			}
			if spec.BackendProtocol == "ssl" && l.Protocol == "TLS" {
				tgProto = "TLS" // a TCP listener cannot forward to a TLS target group
			}
		case v1.ProtocolUDP:
			l.Protocol, tgProto = "UDP", "UDP"
		default:
			return fmt.Errorf("port %d: protocol %s is not served by a network load balancer; accepted: TCP, UDP", p.Port, p.Protocol)
		}
		tg := &TargetGroup{
			Protocol:      tgProto,
			TargetType:    string(spec.TargetType),
			IPAddressType: "ipv4",
			Attributes:    maps.Clone(tgAttrs),
			HealthCheck:   healthCheck(in, p, false),
		}
		if spec.TargetType == annotations.TargetInstance {
			if p.NodePort == 0 {
				return fmt.Errorf("port %d has no NodePort (allocateLoadBalancerNodePorts: false); set %s: ip", p.Port, annotations.NLBTargetType)
			}
			tg.Port = p.NodePort
			for _, id := range instances {
				tg.Targets = append(tg.Targets, Target{ID: id, Port: p.NodePort})
			}
		} else {
			if primaryIPv6(svc) {
				tg.IPAddressType = "ipv6"
			}
			tg.Port = p.TargetPort.IntVal
			if tg.Port == 0 {
				tg.Port = p.Port // a named port: each target carries its own
			}
			tg.Targets = ipTargets(in.Endpoints, p, tg.IPAddressType == "ipv6")
		}
		tg.Name = tgName(lb.Name, lb.Owner, tg.Protocol, strconv.Itoa(int(tg.Port)), tg.TargetType, tg.IPAddressType, strconv.Itoa(int(p.Port)))
		tg.Tags = withExtra(OwnerTags(in.Cluster, lb.Owner, ResourceTargetGroup), spec.Tags)
		l.TargetGroup = tg
		lb.Listeners = append(lb.Listeners, l)
	}
	if len(lb.Listeners) == 0 {
		return ErrNoPorts
	}
	return nil
}

func buildClassic(in Input, lb *LoadBalancer) error {
	svc, spec := in.Service, in.Spec
	c := &Classic{Instances: instanceTargets(in), IdleTimeout: 60, DrainingTimeout: 300}
	if spec.CrossZone != nil {
		c.CrossZone = *spec.CrossZone
	}
	if spec.IdleTimeout != 0 {
		c.IdleTimeout = spec.IdleTimeout
	}
	if spec.Draining != nil {
		c.Draining = *spec.Draining
	}
	if spec.DrainingTimeout != 0 {
		c.DrainingTimeout = spec.DrainingTimeout
	}
	backend := strings.ToUpper(spec.BackendProtocol)
	if backend == "" {
		backend = "TCP"
	}
	var first *v1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Protocol != v1.ProtocolTCP && p.Protocol != "" {
			return fmt.Errorf("port %d: protocol %s is not served by a classic load balancer; accepted: TCP", p.Port, p.Protocol)
		}
		if p.NodePort == 0 {
			return fmt.Errorf("port %d has no NodePort, which a classic load balancer needs", p.Port)
		}
		if first == nil {
			first = &svc.Spec.Ports[i]
		}
		l := Listener{Port: p.Port, Protocol: backend, InstancePort: p.NodePort, InstanceProtocol: backend}
		if tlsPort(spec, p) {
			l.Certificates, l.SSLPolicy = spec.Certificates[:1], spec.SSLPolicy
			l.Protocol = "SSL"
			if backend == "HTTP" || backend == "HTTPS" {
				l.Protocol = "HTTPS"
			}
		} else if backend == "SSL" {
			l.Protocol = "TCP" // a plain front end cannot speak SSL
		} else if backend == "HTTPS" {
			l.Protocol = "HTTP"
		}
		if spec.ProxyProtocol {
			c.ProxyProtocolPorts = append(c.ProxyProtocolPorts, p.NodePort)
		}
		lb.Listeners = append(lb.Listeners, l)
	}
	if first == nil {
		return ErrNoPorts
	}
	c.HealthCheck = healthCheck(in, *first, true)
	lb.Classic = c
	return nil
}

func tlsPort(spec *annotations.Spec, p v1.ServicePort) bool {
	if len(spec.Certificates) == 0 {
		return false
	}
	return len(spec.SSLPorts) == 0 || slices.Contains(spec.SSLPorts, strconv.Itoa(int(p.Port))) ||
		(p.Name != "" && slices.Contains(spec.SSLPorts, p.Name))
}

// healthCheck picks the probe: HTTP on healthCheckNodePort for
// externalTrafficPolicy: Local (so only nodes with a ready endpoint get
// traffic), otherwise TCP on the traffic port or, if the config says so, the
// node proxy's health endpoint; annotations override each field.
func healthCheck(in Input, p v1.ServicePort, classic bool) HealthCheck {
	svc, a := in.Service, in.Spec.HealthCheck
	hc := HealthCheck{Protocol: "TCP", Port: "traffic-port", Healthy: 3, Unhealthy: 3, Interval: 10, Timeout: 10}
	instance := in.Spec.TargetType == annotations.TargetInstance
	switch {
	case instance && svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal && svc.Spec.HealthCheckNodePort != 0:
		hc = HealthCheck{Protocol: "HTTP", Port: strconv.Itoa(int(svc.Spec.HealthCheckNodePort)), Path: "/healthz",
			Healthy: 2, Unhealthy: 2, Interval: 10, Timeout: 6}
	case instance && in.Config.HealthCheck == config.HealthCheckNodeProxy:
		hc = HealthCheck{Protocol: "HTTP", Port: strconv.Itoa(int(in.Config.NodeProxyHealthPort)), Path: "/healthz",
			Healthy: 2, Unhealthy: 2, Interval: 10, Timeout: 6}
	}
	if classic {
		hc.Timeout, hc.Unhealthy = 5, 6 // cloud-provider-aws's classic defaults
		if hc.Port == "traffic-port" {
			hc.Port = strconv.Itoa(int(p.NodePort))
		}
	}
	if a.Protocol != "" {
		hc.Protocol = a.Protocol
	}
	if a.Port != "" {
		hc.Port = a.Port
		if classic && a.Port == "traffic-port" {
			hc.Port = strconv.Itoa(int(p.NodePort))
		}
	}
	if a.Path != "" {
		hc.Path = a.Path
	}
	for dst, src := range map[*int32]int32{&hc.Healthy: a.Healthy, &hc.Unhealthy: a.Unhealthy, &hc.Interval: a.Interval, &hc.Timeout: a.Timeout} {
		if src != 0 {
			*dst = src
		}
	}
	if hc.Protocol == "TCP" {
		hc.Path, hc.SuccessCodes = "", ""
	} else {
		if hc.Path == "" {
			hc.Path = "/"
		}
		hc.SuccessCodes = "200-399"
		if a.SuccessCodes != "" {
			hc.SuccessCodes = a.SuccessCodes
		}
		if classic {
			hc.SuccessCodes = "" // a classic load balancer only accepts 200
		}
	}
	return hc
}

// instanceTargets are the EC2 instance IDs of the nodes that pass the
// config's and the Service's node selectors, sorted.
func instanceTargets(in Input) []string {
	sel := in.Config.Selector()
	var svcSel = in.Spec.TargetNodeLabels
	var out []string
	for _, n := range in.Nodes {
		if !sel.Matches(labelSet(n.Labels)) {
			continue
		}
		if svcSel != "" && !mustSelector(svcSel).Matches(labelSet(n.Labels)) {
			continue
		}
		if id, err := InstanceID(n.Spec.ProviderID); err == nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func ipTargets(eps []Endpoint, p v1.ServicePort, v6 bool) []Target {
	var out []Target
	for _, e := range eps {
		if e.Addr.Is6() != v6 {
			continue
		}
		port := p.TargetPort.IntVal
		if p.TargetPort.StrVal != "" || port == 0 {
			var ok bool
			if port, ok = e.Ports[p.Name]; !ok {
				continue
			}
		}
		out = append(out, Target{ID: e.Addr.String(), Port: port})
	}
	slices.SortFunc(out, func(a, b Target) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return int(a.Port - b.Port)
	})
	return slices.Compact(out)
}

func primaryIPv6(svc *v1.Service) bool {
	return len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == v1.IPv6Protocol
}

// sourceRanges returns loadBalancerSourceRanges (or the older annotation), or
// everywhere.
func sourceRanges(svc *v1.Service, dualStack bool) ([]netip.Prefix, error) {
	raw := svc.Spec.LoadBalancerSourceRanges
	if len(raw) == 0 && svc.Annotations[SourceRangesAnnotation] != "" {
		raw = strings.Split(svc.Annotations[SourceRangesAnnotation], ",")
	}
	if len(raw) == 0 {
		out := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		if dualStack {
			out = append(out, netip.MustParsePrefix("::/0"))
		}
		return out, nil
	}
	var out []netip.Prefix
	for _, r := range raw {
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		if err != nil {
			return nil, &annotations.Error{Name: "spec.loadBalancerSourceRanges", Value: r, Accepted: "CIDR prefixes such as 203.0.113.0/24"}
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out), nil
}

func withExtra(base, extra map[string]string) map[string]string {
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, base) // ownership tags win
	return out
}

// InstanceID reads the EC2 instance ID from a provider ID aws:///zone/i-….
func InstanceID(providerID string) (string, error) {
	rest, ok := strings.CutPrefix(providerID, "aws://")
	i := strings.LastIndex(rest, "/")
	if !ok || i < 0 || !strings.HasPrefix(rest[i+1:], "i-") {
		return "", fmt.Errorf("provider ID %q is not of the form aws:///<zone>/<instance-id>", providerID)
	}
	return rest[i+1:], nil
}
