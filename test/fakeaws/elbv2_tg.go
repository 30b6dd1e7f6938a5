package fakeaws

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

type healthCheck struct {
	enabled                         bool
	protocol, port, path, matcher   string
	interval, timeout, healthy, bad int
}

type target struct {
	id   string
	port int
	az   string
}

type targetGroup struct {
	meta
	arn, name, protocol, vpcID, targetType, ipType string
	port                                           int
	hc                                             healthCheck
	attrs, tags                                    map[string]string
	targets                                        []target
	// health overrides set by SetTargetHealth, by "id:port".
	health map[string][2]string
}

func (tg *targetGroup) settings() string {
	return fmt.Sprintf("%s/%d/%s/%s", tg.protocol, tg.port, tg.vpcID, tg.targetType)
}

// lbARNs are the load balancers whose listeners forward to tg.
func (s *Server) lbARNs(tg *targetGroup) []string {
	var out []string
	for _, l := range sortedValues(s.elbv2.listeners) {
		if slices.Contains(l.targetGroups(), tg.arn) && !slices.Contains(out, l.lbARN) {
			out = append(out, l.lbARN)
		}
	}
	return out
}

func (s *Server) v2CreateTargetGroup(p params) ([]*node, error) {
	name := p.str("Name")
	if err := validName("target group", name); err != nil {
		return nil, err
	}
	tg := &targetGroup{name: name, protocol: p.str("Protocol"), vpcID: p.str("VpcId"),
		targetType: orDefault(p.str("TargetType"), "instance"), ipType: orDefault(p.str("IpAddressType"), "ipv4"),
		health: map[string][2]string{}}
	if !slices.Contains([]string{"instance", "ip"}, tg.targetType) {
		return nil, validation("TargetType '%s' is not modelled; accepted: instance, ip", tg.targetType)
	}
	if !slices.Contains([]string{"TCP", "UDP", "TCP_UDP", "TLS", "HTTP", "HTTPS"}, tg.protocol) {
		return nil, validation("Protocol '%s' is not valid; accepted: TCP, UDP, TCP_UDP, TLS, HTTP, HTTPS", tg.protocol)
	}
	port, err := p.integer("Port", 0)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, validation("Port %d is out of range; accepted: 1 to 65535", port)
	}
	tg.port = port
	if s.ec2.vpcs[tg.vpcID] == nil {
		return nil, validation("The VPC ID '%s' is not found", tg.vpcID)
	}
	tg.hc = defaultHealthCheck(tg.protocol)
	if err := applyHealthCheck(&tg.hc, p); err != nil {
		return nil, err
	}
	if tg.tags, err = v2Tags(p); err != nil {
		return nil, err
	}
	if len(tg.tags) > s.cfg.limits.TagsPerResource {
		return nil, v2Err("TooManyTags", "%d tags exceed the limit of %d", len(tg.tags), s.cfg.limits.TagsPerResource)
	}
	for _, old := range s.elbv2.tgs {
		if old.name != name {
			continue
		}
		if old.settings() == tg.settings() && old.hc == tg.hc {
			return []*node{wrap("TargetGroups", "member", []*node{s.tgNode(old)})}, nil
		}
		return nil, v2Err("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", name)
	}
	if len(s.elbv2.tgs) >= s.cfg.limits.TargetGroups {
		return nil, v2Err("TooManyTargetGroups", "The maximum number of target groups (%d) has been reached", s.cfg.limits.TargetGroups)
	}
	tg.meta = s.newMeta()
	tg.arn = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", s.cfg.region, s.cfg.account, name, s.hex16())
	tg.attrs = tgDefaultAttrs(tg)
	s.elbv2.tgs[tg.arn] = tg
	return []*node{wrap("TargetGroups", "member", []*node{s.tgNode(tg)})}, nil
}

func defaultHealthCheck(proto string) healthCheck {
	hc := healthCheck{enabled: true, protocol: proto, port: "traffic-port", interval: 30, timeout: 10, healthy: 5, bad: 2}
	switch proto {
	case "UDP", "TCP_UDP", "TLS":
		hc.protocol = "TCP"
	case "HTTP", "HTTPS":
		hc.path, hc.matcher, hc.timeout = "/", "200", 5
	}
	return hc
}

// applyHealthCheck overlays the HealthCheck* fields of a Create or Modify
// call, within AWS's accepted ranges.
func applyHealthCheck(hc *healthCheck, p params) error {
	ints := []struct {
		key      string
		dst      *int
		lo, hi   int
		accepted string
	}{
		{"HealthCheckIntervalSeconds", &hc.interval, 5, 300, "5 to 300"},
		{"HealthCheckTimeoutSeconds", &hc.timeout, 2, 120, "2 to 120"},
		{"HealthyThresholdCount", &hc.healthy, 2, 10, "2 to 10"},
		{"UnhealthyThresholdCount", &hc.bad, 2, 10, "2 to 10"},
	}
	for _, f := range ints {
		if !p.has(f.key) {
			continue
		}
		v, err := p.integer(f.key, 0)
		if err != nil {
			return err
		}
		if v < f.lo || v > f.hi {
			return validation("%s %d is out of range; accepted: %s", f.key, v, f.accepted)
		}
		*f.dst = v
	}
	if v := p.str("HealthCheckProtocol"); v != "" {
		if !slices.Contains([]string{"TCP", "HTTP", "HTTPS"}, v) {
			return validation("HealthCheckProtocol '%s' is not valid; accepted: TCP, HTTP, HTTPS", v)
		}
		if hc.protocol == "TCP" && v != "TCP" && hc.path == "" {
			hc.path, hc.matcher = "/", "200-399"
		}
		hc.protocol = v
	}
	if v := p.str("HealthCheckPort"); v != "" {
		if n, err := strconv.Atoi(v); v != "traffic-port" && (err != nil || n < 1 || n > 65535) {
			return validation("HealthCheckPort '%s' is not valid; accepted: traffic-port or 1 to 65535", v)
		}
		hc.port = v
	}
	if v := p.str("HealthCheckPath"); v != "" {
		hc.path = v
	}
	if v := p.str("Matcher.HttpCode"); v != "" {
		hc.matcher = v
	}
	if v := p.str("HealthCheckEnabled"); v != "" {
		hc.enabled = v == "true"
	}
	if hc.protocol == "TCP" {
		hc.path, hc.matcher = "", ""
	}
	return nil
}

func tgDefaultAttrs(tg *targetGroup) map[string]string {
	preserve := "true"
	if tg.targetType == "ip" && (tg.protocol == "TCP" || tg.protocol == "TLS") {
		preserve = "false"
	}
	return map[string]string{
		"deregistration_delay.timeout_seconds":                           "300",
		"deregistration_delay.connection_termination.enabled":            "false",
		"proxy_protocol_v2.enabled":                                      "false",
		"preserve_client_ip.enabled":                                     preserve,
		"stickiness.enabled":                                             "false",
		"stickiness.type":                                                "source_ip",
		"load_balancing.cross_zone.enabled":                              "use_load_balancer_configuration",
		"target_health_state.unhealthy.connection_termination.enabled":   "true",
		"target_health_state.unhealthy.draining_interval_seconds":        "0",
		"target_group_health.dns_failover.minimum_healthy_targets.count": "1",
	}
}

func (s *Server) tgNode(tg *targetGroup) *node {
	n := el("",
		leaf("TargetGroupArn", tg.arn),
		leaf("TargetGroupName", tg.name),
		leaf("Protocol", tg.protocol),
		intLeaf("Port", tg.port),
		leaf("VpcId", tg.vpcID),
		leaf("HealthCheckProtocol", tg.hc.protocol),
		leaf("HealthCheckPort", tg.hc.port),
		boolLeaf("HealthCheckEnabled", tg.hc.enabled),
		intLeaf("HealthCheckIntervalSeconds", tg.hc.interval),
		intLeaf("HealthCheckTimeoutSeconds", tg.hc.timeout),
		intLeaf("HealthyThresholdCount", tg.hc.healthy),
		intLeaf("UnhealthyThresholdCount", tg.hc.bad),
		opt("HealthCheckPath", tg.hc.path),
		strs("LoadBalancerArns", "member", s.lbARNs(tg)),
		leaf("TargetType", tg.targetType),
		leaf("IpAddressType", tg.ipType),
	)
	if tg.hc.matcher != "" {
		n.kids = append(n.kids, el("Matcher", leaf("HttpCode", tg.hc.matcher)))
	}
	return n
}

func (s *Server) lookupTG(arn string, describe bool) (*targetGroup, error) {
	tg := s.elbv2.tgs[arn]
	if tg == nil || (describe && !s.visible(tg.born, tg.bornAt)) {
		return nil, v2Err("TargetGroupNotFound", "Target groups '%s' not found", arn)
	}
	return tg, nil
}

// v2DeleteTargetGroup succeeds for an unknown ARN (the API lists only
// ResourceInUse as an error) and refuses while a listener forwards to it.
func (s *Server) v2DeleteTargetGroup(p params) ([]*node, error) {
	tg := s.elbv2.tgs[p.str("TargetGroupArn")]
	if tg == nil {
		return nil, nil
	}
	if len(s.lbARNs(tg)) > 0 {
		return nil, v2Err("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", tg.arn)
	}
	delete(s.elbv2.tgs, tg.arn)
	return nil, nil
}

func (s *Server) v2DescribeTargetGroups(p params) ([]*node, error) {
	arns, names, lbARN := p.list("TargetGroupArns.member"), p.list("Names.member"), p.str("LoadBalancerArn")
	var out []*targetGroup
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			tg, err := s.lookupTG(a, true)
			if err != nil {
				return nil, err
			}
			out = append(out, tg)
		}
	case len(names) > 0:
		for _, name := range names {
			var found *targetGroup
			for _, tg := range s.elbv2.tgs {
				if tg.name == name && s.visible(tg.born, tg.bornAt) {
					found = tg
				}
			}
			if found == nil {
				return nil, v2Err("TargetGroupNotFound", "One or more target groups not found: '%s'", name)
			}
			out = append(out, found)
		}
	default:
		if lbARN != "" {
			if _, err := s.lookupLB(lbARN, true); err != nil {
				return nil, err
			}
		}
		for _, tg := range sortedValues(s.elbv2.tgs) {
			if s.visible(tg.born, tg.bornAt) && (lbARN == "" || slices.Contains(s.lbARNs(tg), lbARN)) {
				out = append(out, tg)
			}
		}
	}
	size, err := pageSize(p, 400)
	if err != nil {
		return nil, err
	}
	out, next, err := page(out, p.str("Marker"), size)
	if err != nil {
		return nil, err
	}
	var items []*node
	for _, tg := range out {
		items = append(items, s.tgNode(tg))
	}
	return []*node{wrap("TargetGroups", "member", items), opt("NextMarker", next)}, nil
}

func (s *Server) v2ModifyTargetGroup(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), false)
	if err != nil {
		return nil, err
	}
	hc := tg.hc
	if err := applyHealthCheck(&hc, p); err != nil {
		return nil, err
	}
	tg.hc = hc
	return []*node{wrap("TargetGroups", "member", []*node{s.tgNode(tg)})}, nil
}

func (s *Server) v2DescribeTGAttributes(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), true)
	if err != nil {
		return nil, err
	}
	return []*node{attrNodes(tg.attrs)}, nil
}

func (s *Server) v2ModifyTGAttributes(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), false)
	if err != nil {
		return nil, err
	}
	if err := setAttrs(tg.attrs, p, "target group"); err != nil {
		return nil, err
	}
	return []*node{attrNodes(tg.attrs)}, nil
}

// parseTargets reads Targets.member.N; a missing port means the group's.
func parseTargets(tg *targetGroup, p params) ([]target, error) {
	var out []target
	for _, t := range p.structs("Targets.member") {
		port, err := t.integer("Port", tg.port)
		if err != nil {
			return nil, err
		}
		out = append(out, target{id: t.str("Id"), port: port, az: t.str("AvailabilityZone")})
	}
	if len(out) == 0 {
		return nil, validation("Targets is required")
	}
	return out, nil
}

func (s *Server) v2RegisterTargets(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), false)
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(tg, p)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if err := s.checkTarget(tg, t); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		if !slices.ContainsFunc(tg.targets, func(x target) bool { return x.id == t.id && x.port == t.port }) {
			tg.targets = append(tg.targets, t)
		}
	}
	if len(tg.targets) > s.cfg.limits.TargetsPerTargetGrp {
		tg.targets = tg.targets[:len(tg.targets)-len(targets)]
		return nil, v2Err("TooManyTargets", "The maximum number of targets per target group (%d) has been reached", s.cfg.limits.TargetsPerTargetGrp)
	}
	return nil, nil
}

// checkTarget applies AWS's registration rules: an instance target must be
// a running instance in the group's VPC, an IP target an address inside the
// VPC's CIDR unless its AvailabilityZone is "all".
func (s *Server) checkTarget(tg *targetGroup, t target) error {
	if t.port < 1 || t.port > 65535 {
		return validation("Target port %d is out of range; accepted: 1 to 65535", t.port)
	}
	if tg.targetType == "instance" {
		i := s.ec2.instances[t.id]
		if i == nil || i.vpcID != tg.vpcID {
			return v2Err("InvalidTarget", "The following targets are not valid: '%s' (no such instance in %s)", t.id, tg.vpcID)
		}
		if i.state != "running" {
			return v2Err("InvalidTarget", "The following targets are not in a running state and cannot be registered: '%s'", t.id)
		}
		return nil
	}
	a, err := netip.ParseAddr(t.id)
	if err != nil {
		return v2Err("InvalidTarget", "Target '%s' is not an IP address; the target group's type is ip", t.id)
	}
	if t.az != "all" && !s.ec2.vpcs[tg.vpcID].cidr.Contains(a) {
		return v2Err("InvalidTarget", "The IP address '%s' is not within the CIDR of VPC '%s'; register it with AvailabilityZone=all", a, tg.vpcID)
	}
	return nil
}

func (s *Server) v2DeregisterTargets(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), false)
	if err != nil {
		return nil, err
	}
	targets, err := parseTargets(tg, p)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if !slices.ContainsFunc(tg.targets, func(x target) bool { return x.id == t.id && x.port == t.port }) {
			return nil, v2Err("InvalidTarget", "The target '%s' on port %d is not registered with target group '%s'", t.id, t.port, tg.arn)
		}
	}
	tg.targets = slices.DeleteFunc(tg.targets, func(x target) bool {
		return slices.ContainsFunc(targets, func(t target) bool { return x.id == t.id && x.port == t.port })
	})
	return nil, nil
}

// SetTargetHealth overrides the health the fake reports for a registered
// target (state "healthy", "unhealthy", "initial", "draining", ...; reason
// such as "Target.FailedHealthChecks"). An empty state removes the override.
func (s *Server) SetTargetHealth(targetGroupARN, id string, port int, state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg := s.elbv2.tgs[targetGroupARN]; tg != nil {
		key := id + ":" + strconv.Itoa(port)
		if state == "" {
			delete(tg.health, key)
			return
		}
		tg.health[key] = [2]string{state, reason}
	}
}

// targetHealth derives health from the model: a group no listener uses is
// "unused", an instance that is not running is "unused" with
// Target.InvalidState, otherwise healthy unless SetTargetHealth said else.
func (s *Server) targetHealth(tg *targetGroup, t target, registered bool) (state, reason string) {
	switch {
	case !registered:
		return "unused", "Target.NotRegistered"
	case len(s.lbARNs(tg)) == 0:
		return "unused", "Target.NotInUse"
	}
	if h, ok := tg.health[t.id+":"+strconv.Itoa(t.port)]; ok {
		return h[0], h[1]
	}
	if tg.targetType == "instance" {
		if i := s.ec2.instances[t.id]; i == nil || i.state != "running" {
			return "unused", "Target.InvalidState"
		}
	}
	return "healthy", ""
}

func (s *Server) v2DescribeTargetHealth(p params) ([]*node, error) {
	tg, err := s.lookupTG(p.str("TargetGroupArn"), true)
	if err != nil {
		return nil, err
	}
	targets := tg.targets
	asked := p.structs("Targets.member")
	if len(asked) > 0 {
		if targets, err = parseTargets(tg, p); err != nil {
			return nil, err
		}
	}
	var out []*node
	for _, t := range targets {
		registered := slices.ContainsFunc(tg.targets, func(x target) bool { return x.id == t.id && x.port == t.port })
		state, reason := s.targetHealth(tg, t, registered)
		th := el("TargetHealth", leaf("State", state), opt("Reason", reason))
		if reason != "" {
			th.kids = append(th.kids, leaf("Description", strings.TrimPrefix(reason, "Target.")))
		}
		hcPort := tg.hc.port
		if hcPort == "traffic-port" {
			hcPort = strconv.Itoa(t.port)
		}
		out = append(out, el("",
			el("Target", leaf("Id", t.id), intLeaf("Port", t.port), opt("AvailabilityZone", t.az)),
			leaf("HealthCheckPort", hcPort), th))
	}
	return []*node{wrap("TargetHealthDescriptions", "member", out)}, nil
}
