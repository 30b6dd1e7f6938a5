package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/frontdesk-lb/frontdesk/served"
)

// modelOptions is what the rules of one family depend on besides the Service and its endpoints.
type modelOptions struct {
	fam            family
	nodeName       string
	zone           string         // the node's topology.kubernetes.io/zone label, for PreferClose
	podCIDRs       []netip.Prefix // this family's; empty turns off the pod-source rules
	nodePortIPs    []netip.Addr   // nil: every local address but loopback
	masqueradeMark uint32
	// excluded are the nodes whose endpoints take no new connections (SetExcludedNodes), and
	// readyAt when each endpoint of the Service being built was last seen to become ready.
	excluded map[string]ExcludedNode
	readyAt  map[netip.Addr]time.Time
	// notMine are the addresses of the Service being built that it may not have (refused by
	// served.Claims.CheckAddrs against every other Service); limits caps its ports and endpoints.
	notMine map[addrClaim]bool
	limits  served.Limits
}

// addrClaim is one address a Service names, with how it names it.
type addrClaim struct {
	addr netip.Addr
	kind served.AddrKind
}

// portName identifies one port of one Service; it names that port's chains.
type portName struct {
	namespace, name, port string
	protocol              v1.Protocol
}

func (p portName) String() string {
	return p.namespace + "/" + p.name + "/" + strings.ToLower(string(p.protocol)) + "/" + p.port
}

// servicePort is one port of a Service, reduced to what the rules of one family need.
type servicePort struct {
	name            portName
	clusterIP       netip.Addr // invalid when the Service has none of this family
	port            uint16
	nodePort        uint16
	externalIPs     []netip.Addr // spec.externalIPs and LoadBalancer ingress IPs (ipMode VIP)
	lbIPs           []netip.Addr // the LoadBalancer ingress IPs alone, for loadBalancerSourceRanges
	sourceRanges    []netip.Prefix
	firewall        bool // loadBalancerSourceRanges set: LoadBalancer IPs take only those sources
	externalLocal   bool // externalTrafficPolicy: Local
	internalLocal   bool // internalTrafficPolicy: Local
	affinityTimeout time.Duration
	distribution    string // spec.trafficDistribution
}

// endpoint is one address of an EndpointSlice with the port of one Service port.
type endpoint struct {
	addr                   netip.Addr
	port                   uint16
	ready, serving, termin bool
	node                   string
	forZones, forNodes     []string
}

// ErrForbiddenEndpoint says an endpoint address lies in a range the proxy never forwards to.
var ErrForbiddenEndpoint = served.ErrForbiddenEndpoint

func (f family) has(a netip.Addr) bool {
	return a.IsValid() && (f.nft == familyIPv4.nft) == a.Is4()
}

// servicePorts turns a Service into its ports for one family. Services the proxy does not serve
// (headless, ExternalName, none of this family's addresses) give nothing.
func servicePorts(svc *v1.Service, fam family, notMine map[addrClaim]bool) []servicePort {
	if svc.Spec.Type == v1.ServiceTypeExternalName || svc.Spec.ClusterIP == v1.ClusterIPNone {
		return nil
	}
	var clusterIP netip.Addr
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && fam.has(a) {
			clusterIP = a
			break
		}
	}
	if !clusterIP.IsValid() {
		return nil
	}
	var ext, lb []netip.Addr
	for _, s := range svc.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(s); err == nil && fam.has(a) && !notMine[addrClaim{a.Unmap(), served.KindExternalIP}] {
			ext = append(ext, a)
		}
	}
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			// ipMode Proxy: the load balancer delivers to the node with the VIP rewritten; a local
			// shortcut to the VIP would bypass what the load balancer does (KEP-1860).
			if ing.IPMode != nil && *ing.IPMode == v1.LoadBalancerIPModeProxy {
				continue
			}
			if a, err := netip.ParseAddr(ing.IP); err == nil && fam.has(a) && !notMine[addrClaim{a.Unmap(), served.KindLoadBalancerIP}] {
				lb = append(lb, a)
			}
		}
	}
	var ranges []netip.Prefix
	for _, s := range svc.Spec.LoadBalancerSourceRanges {
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil && fam.has(p.Addr()) {
			ranges = append(ranges, p.Masked())
		}
	}
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = time.Duration(v1.DefaultClientIPServiceAffinitySeconds) * time.Second
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	external := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer
	var out []servicePort
	for _, p := range svc.Spec.Ports {
		sp := servicePort{
			name:            portName{svc.Namespace, svc.Name, p.Name, p.Protocol},
			clusterIP:       clusterIP,
			port:            uint16(p.Port),
			externalIPs:     slices.Concat(ext, lb),
			lbIPs:           lb,
			externalLocal:   svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal,
			internalLocal:   svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal,
			affinityTimeout: affinity,
		}
		if len(lb) > 0 && len(svc.Spec.LoadBalancerSourceRanges) > 0 {
			// Ranges of the other family only still close this family's VIPs: the user asked for a
			// closed list, and no entry of it can match.
			sp.sourceRanges, sp.firewall = ranges, true
		}
		if external && p.NodePort > 0 {
			sp.nodePort = uint16(p.NodePort)
		}
		if svc.Spec.TrafficDistribution != nil {
			sp.distribution = *svc.Spec.TrafficDistribution
		}
		out = append(out, sp)
	}
	return out
}

// endpointsFor collects the endpoints of one Service port from the Service's EndpointSlices, as
// served.PortEndpoints takes them (the controller's TooManyEndpoints Event counts the same way).
// EndpointSlice ports carry the Service port's name and the resolved target port, which is how
// named target ports reach the rules. refused receives each address the proxy will not forward to.
func endpointsFor(epSlices []*discovery.EndpointSlice, fam family, sp servicePort, refused func(error)) []endpoint {
	want := discovery.AddressTypeIPv4
	if fam.nft == familyIPv6.nft {
		want = discovery.AddressTypeIPv6
	}
	var refuse func(*discovery.EndpointSlice, error)
	if refused != nil {
		refuse = func(s *discovery.EndpointSlice, err error) {
			refused(fmt.Errorf("service %s, EndpointSlice %s/%s: %w", sp.name, s.Namespace, s.Name, err))
		}
	}
	var out []endpoint
	for pe := range served.PortEndpoints(epSlices, want, sp.name.port, sp.name.protocol, refuse) {
		e := pe.Endpoint
		c := served.ConditionsOf(e.Conditions)
		ep := endpoint{addr: pe.Addr, port: pe.Port, ready: c.Ready, termin: c.Terminating}
		// A nil serving is read as ready here, where kube-proxy (and served) read it as true.
		// The two differ only for ready false, terminating true and serving unset, which the
		// EndpointSlice controller never writes; docs/design/eligibility.md leaves it open.
		ep.serving = ep.ready
		if e.Conditions.Serving != nil {
			ep.serving = *e.Conditions.Serving
		}
		if e.NodeName != nil {
			ep.node = *e.NodeName
		}
		if e.Hints != nil {
			for _, z := range e.Hints.ForZones {
				ep.forZones = append(ep.forZones, z.Name)
			}
			for _, n := range e.Hints.ForNodes {
				ep.forNodes = append(ep.forNodes, n.Name)
			}
		}
		out = append(out, ep)
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return out
}
