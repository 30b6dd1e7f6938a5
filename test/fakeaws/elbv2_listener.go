package fakeaws

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

type forward struct {
	tgARN  string
	weight int
}

type listener struct {
	meta
	arn, lbARN, protocol, sslPolicy string
	port                            int
	certs, alpn                     []string
	forwards                        []forward
	tags                            map[string]string
}

func (l *listener) targetGroups() []string {
	var out []string
	for _, f := range l.forwards {
		out = append(out, f.tgARN)
	}
	return out
}

// sslPolicies are the predefined policies the fake accepts.
var sslPolicies = []string{
	"ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-FS-1-2-Res-2020-10",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
}

// compatible lists, per listener protocol, the target group protocols AWS
// lets it forward to.
var compatible = map[string][]string{
	"TCP":     {"TCP", "TCP_UDP"},
	"UDP":     {"UDP", "TCP_UDP"},
	"TCP_UDP": {"TCP_UDP"},
	"TLS":     {"TCP", "TLS"},
	"HTTP":    {"HTTP", "HTTPS"},
	"HTTPS":   {"HTTP", "HTTPS"},
}

// parseListener reads and validates the listener fields of a Create or
// Modify call onto l (a copy for Modify, so a failure changes nothing).
func (s *Server) parseListener(l *listener, lb *loadBalancer, p params) error {
	if v := p.str("Protocol"); v != "" {
		l.protocol = v
	}
	allowed := []string{"TCP", "UDP", "TCP_UDP", "TLS"}
	if lb.typ == "application" {
		allowed = []string{"HTTP", "HTTPS"}
	}
	if !slices.Contains(allowed, l.protocol) {
		return v2Err("UnsupportedProtocol", "Protocol '%s' is not supported by a %s load balancer; accepted: %s", l.protocol, lb.typ, strings.Join(allowed, ", "))
	}
	if p.has("Port") {
		port, err := p.integer("Port", 0)
		if err != nil {
			return err
		}
		l.port = port
	}
	if l.port < 1 || l.port > 65535 {
		return validation("Port %d is out of range; accepted: 1 to 65535", l.port)
	}
	if certs := p.structs("Certificates.member"); len(certs) > 0 {
		l.certs = nil
		for _, c := range certs {
			l.certs = append(l.certs, c.str("CertificateArn"))
		}
	}
	if v := p.str("SslPolicy"); v != "" {
		l.sslPolicy = v
	}
	if alpn := p.list("AlpnPolicy.member"); len(alpn) > 0 {
		l.alpn = alpn
	}
	secure := l.protocol == "TLS" || l.protocol == "HTTPS"
	if !secure {
		l.certs, l.sslPolicy, l.alpn = nil, "", nil
	} else {
		if len(l.certs) == 0 {
			return v2Err("CertificateNotFound", "A certificate must be specified for %s listeners", l.protocol)
		}
		for _, c := range l.certs {
			if !strings.HasPrefix(c, "arn:") {
				return v2Err("CertificateNotFound", "Certificate '%s' not found", c)
			}
		}
		l.sslPolicy = orDefault(l.sslPolicy, "ELBSecurityPolicy-2016-08")
		if !slices.Contains(sslPolicies, l.sslPolicy) {
			return v2Err("SSLPolicyNotFound", "SSL policy '%s' not found", l.sslPolicy)
		}
	}
	if actions := p.structs("DefaultActions.member"); len(actions) > 0 {
		l.forwards = nil
		for _, a := range actions {
			if t := a.str("Type"); t != "forward" {
				return validation("Action type '%s' is not modelled; accepted: forward", t)
			}
			if arn := a.str("TargetGroupArn"); arn != "" {
				l.forwards = append(l.forwards, forward{arn, 1})
			}
			for _, f := range a.structs("ForwardConfig.TargetGroups.member") {
				w, err := f.integer("Weight", 1)
				if err != nil {
					return err
				}
				if !slices.Contains(l.targetGroups(), f.str("TargetGroupArn")) {
					l.forwards = append(l.forwards, forward{f.str("TargetGroupArn"), w})
				}
			}
		}
	}
	if len(l.forwards) == 0 {
		return validation("A listener needs a forward default action with a target group")
	}
	for _, f := range l.forwards {
		tg := s.elbv2.tgs[f.tgARN]
		if tg == nil {
			return v2Err("TargetGroupNotFound", "Target group '%s' not found", f.tgARN)
		}
		if tg.vpcID != lb.vpcID {
			return validation("Target group '%s' is in VPC '%s', the load balancer in '%s'", tg.arn, tg.vpcID, lb.vpcID)
		}
		if !slices.Contains(compatible[l.protocol], tg.protocol) {
			return v2Err("IncompatibleProtocols", "The listener protocol '%s' is not compatible with the target group protocol '%s'", l.protocol, tg.protocol)
		}
		for _, other := range s.lbARNs(tg) {
			if other != lb.arn {
				return v2Err("TargetGroupAssociationLimit", "The following target groups cannot be associated with more than one load balancer: %s", tg.arn)
			}
		}
	}
	for _, o := range s.elbv2.listeners {
		if o.lbARN == lb.arn && o.port == l.port && o.arn != l.arn {
			return v2Err("DuplicateListener", "A listener already exists on port %d for load balancer '%s'", l.port, lb.arn)
		}
	}
	return nil
}

func (l *listener) settings() string {
	return fmt.Sprintf("%s/%d/%v/%s/%v/%v", l.protocol, l.port, l.certs, l.sslPolicy, l.alpn, l.forwards)
}

func (s *Server) v2CreateListener(p params) ([]*node, error) {
	lb, err := s.lookupLB(p.str("LoadBalancerArn"), false)
	if err != nil {
		return nil, err
	}
	l := &listener{lbARN: lb.arn}
	if l.tags, err = v2Tags(p); err != nil {
		return nil, err
	}
	port, _ := p.integer("Port", 0)
	// CreateListener is idempotent for identical settings on the same port.
	for _, o := range s.elbv2.listeners {
		if o.lbARN == lb.arn && o.port == port {
			probe := *o
			if err := s.parseListener(&probe, lb, p); err == nil && probe.settings() == o.settings() {
				return []*node{wrap("Listeners", "member", []*node{listenerNode(o)})}, nil
			}
			return nil, v2Err("DuplicateListener", "A listener already exists on port %d for load balancer '%s'", port, lb.arn)
		}
	}
	if err := s.parseListener(l, lb, p); err != nil {
		return nil, err
	}
	n := 0
	for _, o := range s.elbv2.listeners {
		if o.lbARN == lb.arn {
			n++
		}
	}
	if n >= s.cfg.limits.ListenersPerLB {
		return nil, v2Err("TooManyListeners", "The maximum number of listeners per load balancer (%d) has been reached", s.cfg.limits.ListenersPerLB)
	}
	l.meta = s.newMeta()
	l.arn = strings.Replace(lb.arn, ":loadbalancer/", ":listener/", 1) + "/" + s.hex16()
	s.elbv2.listeners[l.arn] = l
	return []*node{wrap("Listeners", "member", []*node{listenerNode(l)})}, nil
}

func listenerNode(l *listener) *node {
	var certs, fwd []*node
	for _, c := range l.certs {
		certs = append(certs, el("", leaf("CertificateArn", c)))
	}
	for _, f := range l.forwards {
		fwd = append(fwd, el("", leaf("TargetGroupArn", f.tgARN), intLeaf("Weight", f.weight)))
	}
	action := el("", leaf("Type", "forward"), el("ForwardConfig", wrap("TargetGroups", "member", fwd)))
	if len(l.forwards) == 1 {
		action.kids = append(action.kids, leaf("TargetGroupArn", l.forwards[0].tgARN))
	}
	n := el("",
		leaf("ListenerArn", l.arn),
		leaf("LoadBalancerArn", l.lbARN),
		intLeaf("Port", l.port),
		leaf("Protocol", l.protocol),
		wrap("DefaultActions", "member", []*node{action}),
		opt("SslPolicy", l.sslPolicy),
	)
	if len(certs) > 0 {
		n.kids = append(n.kids, wrap("Certificates", "member", certs))
	}
	if len(l.alpn) > 0 {
		n.kids = append(n.kids, strs("AlpnPolicy", "member", l.alpn))
	}
	return n
}

func (s *Server) lookupListener(arn string, describe bool) (*listener, error) {
	l := s.elbv2.listeners[arn]
	if l == nil || (describe && !s.visible(l.born, l.bornAt)) {
		return nil, v2Err("ListenerNotFound", "Listener '%s' not found", arn)
	}
	return l, nil
}

func (s *Server) v2DeleteListener(p params) ([]*node, error) {
	l, err := s.lookupListener(p.str("ListenerArn"), false)
	if err != nil {
		return nil, err
	}
	delete(s.elbv2.listeners, l.arn)
	return nil, nil
}

func (s *Server) v2ModifyListener(p params) ([]*node, error) {
	l, err := s.lookupListener(p.str("ListenerArn"), false)
	if err != nil {
		return nil, err
	}
	next := *l
	if err := s.parseListener(&next, s.elbv2.lbs[l.lbARN], p); err != nil {
		return nil, err
	}
	*l = next
	return []*node{wrap("Listeners", "member", []*node{listenerNode(l)})}, nil
}

func (s *Server) v2DescribeListeners(p params) ([]*node, error) {
	arns, lbARN := p.list("ListenerArns.member"), p.str("LoadBalancerArn")
	var out []*listener
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			l, err := s.lookupListener(a, true)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	case lbARN != "":
		if _, err := s.lookupLB(lbARN, true); err != nil {
			return nil, err
		}
		for _, l := range sortedValues(s.elbv2.listeners) {
			if l.lbARN == lbARN && s.visible(l.born, l.bornAt) {
				out = append(out, l)
			}
		}
	default:
		return nil, validation("You must specify either listener ARNs or a load balancer ARN")
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
	for _, l := range out {
		items = append(items, listenerNode(l))
	}
	return []*node{wrap("Listeners", "member", items), opt("NextMarker", next)}, nil
}

// v2TagsOf finds the tag map of any ELBv2 resource by ARN, with the
// resource's own NotFound error.
func (s *Server) v2TagsOf(arn string) (map[string]string, error) {
	switch {
	case strings.Contains(arn, ":loadbalancer/"):
		lb, err := s.lookupLB(arn, false)
		if err != nil {
			return nil, err
		}
		return lb.tags, nil
	case strings.Contains(arn, ":targetgroup/"):
		tg, err := s.lookupTG(arn, false)
		if err != nil {
			return nil, err
		}
		return tg.tags, nil
	case strings.Contains(arn, ":listener/"):
		l, err := s.lookupListener(arn, false)
		if err != nil {
			return nil, err
		}
		return l.tags, nil
	}
	return nil, validation("'%s' is not a valid load balancer, target group or listener ARN", arn)
}

func (s *Server) v2AddTags(p params) ([]*node, error) {
	arns := p.list("ResourceArns.member")
	tags, err := v2Tags(p)
	if err != nil {
		return nil, err
	}
	var maps []map[string]string
	for _, a := range arns {
		m, err := s.v2TagsOf(a)
		if err != nil {
			return nil, err
		}
		merged := copyTags(m)
		for k, v := range tags {
			merged[k] = v
		}
		if len(merged) > s.cfg.limits.TagsPerResource {
			return nil, v2Err("TooManyTags", "'%s' would have %d tags; the limit is %d", a, len(merged), s.cfg.limits.TagsPerResource)
		}
		maps = append(maps, m)
	}
	for _, m := range maps {
		for k, v := range tags {
			m[k] = v
		}
	}
	return nil, nil
}

func (s *Server) v2RemoveTags(p params) ([]*node, error) {
	for _, a := range p.list("ResourceArns.member") {
		m, err := s.v2TagsOf(a)
		if err != nil {
			return nil, err
		}
		for _, k := range p.list("TagKeys.member") {
			delete(m, k)
		}
	}
	return nil, nil
}

func (s *Server) v2DescribeTags(p params) ([]*node, error) {
	arns := p.list("ResourceArns.member")
	if len(arns) == 0 || len(arns) > 20 {
		return nil, validation("ResourceArns must list 1 to 20 ARNs, got %s", strconv.Itoa(len(arns)))
	}
	var out []*node
	for _, a := range arns {
		m, err := s.v2TagsOf(a)
		if err != nil {
			return nil, err
		}
		out = append(out, el("", leaf("ResourceArn", a), wrap("Tags", "member", tagNodes(m, "Key", "Value"))))
	}
	return []*node{wrap("TagDescriptions", "member", out)}, nil
}
