package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// elem is one element of a named set or map. value is empty for a set.
type elem struct {
	set   string
	key   []string
	value string
}

func (e elem) id() string { return e.set + " " + strings.Join(e.key, " . ") }

// udpPort is what the conntrack cleanup needs to know about one Service port (UDP in
// svcState.udp; TCP and SCTP in svcState.streams, for the flows to dead nodes).
type udpPort struct {
	protocol  string           // conntrack's name: "udp", "tcp", "sctp"
	dests     []netip.AddrPort // the Service's addresses with the Service port
	nodePort  uint16
	endpoints []netip.AddrPort // every endpoint the rules send to, with its port
}

// svcState is the part of one family's table that belongs to one Service: its chains, its elements
// in the shared maps, and its session-affinity sets. The table is the skeleton plus the union of
// these; a sync compares a Service's old and new svcState and sends only the difference.
type svcState struct {
	chains   map[string][]string
	elems    map[string]elem
	affinity map[string]time.Duration // set name → timeout
	udp      map[portName]udpPort
	streams  map[portName]udpPort
	// dead are the endpoint addresses left out because their node is excluded (SetExcludedNodes);
	// failOpen counts the ports that kept them all because nothing else was usable.
	dead     []netip.Addr
	failOpen int
	// vips are the external addresses (LoadBalancer ingress, externalIPs) this node forwards.
	vips []netip.Addr
	// localReady are the node's own ready endpoints, for healthCheckNodePort.
	localReady []netip.Addr
}

func newSvcState() *svcState {
	return &svcState{chains: map[string][]string{}, elems: map[string]elem{},
		affinity: map[string]time.Duration{}, udp: map[portName]udpPort{}, streams: map[portName]udpPort{}}
}

func (s *svcState) add(e elem) { s.elems[e.id()] = e }

// buildService computes one Service's svcState for one family.
func buildService(svc *v1.Service, epSlices []*discovery.EndpointSlice, opts modelOptions, refused func(error)) *svcState {
	st := newSvcState()
	local := map[netip.Addr]bool{}
	vips := map[netip.Addr]bool{}
	dead := map[netip.Addr]bool{}
	if len(svc.Spec.Ports) > opts.limits.Ports {
		// Not programmed at all: a tenant's port list is a spec the API took, not load that grew,
		// and half a Service is harder to diagnose than none (served.Limits).
		if refused != nil {
			refused(fmt.Errorf("service %s/%s: %w: %s", svc.Namespace, svc.Name, ErrOverLimit, opts.limits.PortsMessage(len(svc.Spec.Ports))))
		}
		return st
	}
	for _, sp := range servicePorts(svc, opts.fam, opts.notMine) {
		eps := endpointsFor(epSlices, opts.fam, sp, refused)
		if len(eps) > opts.limits.EndpointsPerPort {
			if refused != nil {
				refused(fmt.Errorf("service %s: %w: %s", sp.name, ErrOverLimit,
					opts.limits.EndpointsMessage(fmt.Sprintf("%s/%d", sp.name.protocol, sp.port), len(eps))))
			}
			eps = capEndpoints(eps, opts.limits.EndpointsPerPort)
		}
		eps, out, failOpen := excludeDead(eps, opts)
		for _, e := range out {
			dead[e.addr] = true
		}
		if failOpen {
			st.failOpen++
		}
		buildPort(st, sp, eps, opts, vips)
		for _, e := range eps {
			if e.ready && e.node == opts.nodeName {
				local[e.addr] = true
			}
		}
	}
	st.vips = sortedAddrs(vips)
	st.localReady = sortedAddrs(local)
	if len(dead) > 0 {
		st.dead = sortedAddrs(dead)
	}
	return st
}

// ErrOverLimit says a Service or one of its ports is over a cap of Config.Limits.
var ErrOverLimit = errors.New("over the node proxy's per-Service limits")

// capEndpoints keeps max of eps: ready ones first, then serving ones, each by address, so that
// every node keeps the same ones; the result is in endpointsFor's order.
func capEndpoints(eps []endpoint, max int) []endpoint {
	rank := func(e endpoint) int {
		switch {
		case e.ready:
			return 0
		case e.serving:
			return 1
		}
		return 2
	}
	kept := slices.Clone(eps)
	slices.SortStableFunc(kept, func(a, b endpoint) int { return rank(a) - rank(b) })
	kept = kept[:max]
	slices.SortFunc(kept, func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return kept
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// usable applies kube-proxy's rule for terminating endpoints: the ready ones among those keep
// selects, and only when none is ready the serving-and-terminating ones, so that connections
// drain gracefully instead of failing when a rollout leaves nothing ready.
func usable(eps []endpoint, keep func(endpoint) bool) []endpoint {
	var ready, term []endpoint
	for _, e := range eps {
		switch {
		case !keep(e):
		case e.ready:
			ready = append(ready, e)
		case e.serving && e.termin:
			term = append(term, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return term
}

// preferClose narrows the cluster-wide endpoints by the EndpointSlice hints of
// spec.trafficDistribution, and falls back to all of them when the hints cannot be trusted: an
// endpoint without hints (the controller has not caught up) or none for this zone.
func preferClose(eps []endpoint, sp servicePort, opts modelOptions) []endpoint {
	if sp.distribution == "" {
		return eps
	}
	if sp.distribution == v1.ServiceTrafficDistributionPreferSameNode {
		same := slices.DeleteFunc(slices.Clone(eps), func(e endpoint) bool { return !slices.Contains(e.forNodes, opts.nodeName) })
		if len(same) > 0 {
			return same
		}
	}
	if opts.zone == "" {
		return eps
	}
	for _, e := range eps {
		if len(e.forZones) == 0 {
			return eps
		}
	}
	same := slices.DeleteFunc(slices.Clone(eps), func(e endpoint) bool { return !slices.Contains(e.forZones, opts.zone) })
	if len(same) == 0 {
		return eps
	}
	return same
}

// Chain and set names. They carry the Service port so that `nft list table` reads like the cluster;
// IPv6 colons become dashes since nft names may not hold them.
func svcChain(p portName) string   { return "svc-" + p.String() }
func localChain(p portName) string { return "local-" + p.String() }
func extChain(p portName) string   { return "ext-" + p.String() }
func epSuffix(p portName, e endpoint) string {
	return p.String() + "__" + strings.ReplaceAll(e.addr.String(), ":", "-") + "/" + fmt.Sprint(e.port)
}
func affinitySet(p portName, e endpoint, timeout time.Duration) string {
	return fmt.Sprintf("aff-%d-%s", int64(timeout/time.Second), epSuffix(p, e))
}

func buildPort(st *svcState, sp servicePort, eps []endpoint, opts modelOptions, vips map[netip.Addr]bool) {
	ip := opts.fam.ip
	proto := strings.ToLower(string(sp.name.protocol))
	port := fmt.Sprint(sp.port)
	all := usable(eps, func(endpoint) bool { return true })
	cluster := preferClose(all, sp, opts)
	local := usable(eps, func(e endpoint) bool { return e.node == opts.nodeName })

	internal, internalChain := cluster, svcChain(sp.name)
	if sp.internalLocal {
		internal, internalChain = local, localChain(sp.name)
	}
	external := cluster
	if sp.externalLocal {
		external = local
	}
	hasExternal := sp.nodePort != 0 || len(sp.externalIPs) > 0
	// extServed: the external addresses (NodePort, externalIPs, LoadBalancer IPs) lead to the
	// external chain. With externalTrafficPolicy Local that is so while any endpoint exists, even
	// with none on this node: Pods and the node itself are not external clients and reach every
	// endpoint (kube-proxy does the same), and the chain drops the rest.
	extServed := len(external) > 0 || (sp.externalLocal && len(cluster) > 0)
	// noEndpoints is the verdict for traffic no endpoint can take: reject when the Service has no
	// endpoint at all (the client learns at once), drop when a traffic policy filtered them out
	// (another node may serve it; the load balancer's health check steers away from this one).
	noEndpoints := func(filtered bool) string {
		if len(all) > 0 && filtered {
			return "drop"
		}
		return "goto " + chainReject
	}

	used := map[netip.AddrPort]endpoint{}
	// dnat is the statement part of the rule that sends a connection to e: with session affinity
	// it also records the client in e's affinity set.
	dnat := func(e endpoint) string {
		to := netip.AddrPortFrom(e.addr, e.port).String()
		if sp.affinityTimeout > 0 {
			set := affinitySet(sp.name, e, sp.affinityTimeout)
			st.affinity[set] = sp.affinityTimeout
			return fmt.Sprintf("meta l4proto %s update @%s { %s saddr } dnat to %s", proto, set, ip, to)
		}
		return fmt.Sprintf("meta l4proto %s dnat to %s", proto, to)
	}
	cascade := func(chain string, to []endpoint, pre ...string) {
		rules := slices.Clone(pre)
		if sp.affinityTimeout > 0 {
			for _, e := range to {
				rules = append(rules, fmt.Sprintf("%s saddr @%s %s", ip, affinitySet(sp.name, e, sp.affinityTimeout), dnat(e)))
			}
		}
		// The endpoint is picked by a cascade of literal comparisons, each rule doing its own DNAT:
		// no anonymous map per Service (they make every later rule-add in the kernel scan all of
		// them, k8s PR #130119) and no chain per endpoint (every nft run fetches every chain name
		// to resolve references, so chains cost on each sync; kube-proxy has one per endpoint).
		for i, e := range to {
			if i == len(to)-1 {
				rules = append(rules, dnat(e))
			} else {
				rules = append(rules, fmt.Sprintf("numgen random mod %d == 0 %s", len(to)-i, dnat(e)))
			}
			used[netip.AddrPortFrom(e.addr, e.port)] = e
		}
		st.chains[chain] = rules
	}

	needCluster := (!sp.internalLocal && len(internal) > 0) || (hasExternal && extServed)
	if needCluster && len(cluster) > 0 {
		var pre []string
		if len(opts.podCIDRs) > 0 {
			pre = append(pre, fmt.Sprintf("%s saddr != @%s jump %s", ip, setPodCIDRs, chainMarkForMasquerade))
		}
		cascade(svcChain(sp.name), cluster, pre...)
	}
	if len(local) > 0 && (sp.internalLocal || (sp.externalLocal && hasExternal)) {
		cascade(localChain(sp.name), local)
	}
	if hasExternal && extServed {
		if sp.externalLocal {
			// Keep the client address: no masquerade, local endpoints only. Pods and the node itself
			// are not external clients; they get the cluster-wide endpoints, like kube-proxy.
			var rules []string
			if len(opts.podCIDRs) > 0 {
				rules = append(rules, fmt.Sprintf("%s saddr @%s goto %s", ip, setPodCIDRs, svcChain(sp.name)))
			}
			rules = append(rules,
				"fib saddr type local jump "+chainMarkForMasquerade,
				"fib saddr type local goto "+svcChain(sp.name))
			if len(local) > 0 {
				rules = append(rules, "goto "+localChain(sp.name))
			} else {
				// Another node may serve it; the load balancer's health check steers away from this one.
				rules = append(rules, "drop")
			}
			st.chains[extChain(sp.name)] = rules
		} else {
			st.chains[extChain(sp.name)] = []string{"jump " + chainMarkForMasquerade, "goto " + svcChain(sp.name)}
		}
	}

	for _, e := range used {
		// Hairpin: a Pod reaching itself through its Service must see the reply come back through
		// conntrack, so postrouting masquerades a DNATed packet whose source is its destination.
		st.add(elem{set: setHairpin, key: []string{e.addr.String(), e.addr.String()}})
	}

	if len(internal) > 0 {
		st.add(elem{mapServiceIPs, []string{sp.clusterIP.String(), proto, port}, "goto " + internalChain})
	} else {
		st.add(elem{mapNoEndpointServices, []string{sp.clusterIP.String(), proto, port}, noEndpoints(sp.internalLocal)})
	}
	for _, a := range sp.externalIPs {
		if extServed {
			st.add(elem{mapServiceIPs, []string{a.String(), proto, port}, "goto " + extChain(sp.name)})
			if len(external) > 0 {
				vips[a] = true // forwarded for external clients: an endpoint takes them here (Forwards)
			}
		} else {
			st.add(elem{mapNoEndpointServices, []string{a.String(), proto, port}, noEndpoints(sp.externalLocal)})
		}
	}
	if sp.nodePort != 0 {
		np := fmt.Sprint(sp.nodePort)
		if extServed {
			st.add(elem{mapServiceNodePorts, []string{proto, np}, "goto " + extChain(sp.name)})
		} else {
			st.add(elem{mapNoEndpointNodePort, []string{proto, np}, noEndpoints(sp.externalLocal)})
		}
	}
	if sp.firewall {
		for _, a := range sp.lbIPs {
			st.add(elem{set: setFirewallIPs, key: []string{a.String(), proto, port}})
			for _, r := range sp.sourceRanges {
				st.add(elem{set: setFirewallAllow, key: []string{a.String(), proto, port, r.String()}})
			}
		}
	}
	{
		u := udpPort{protocol: strings.ToLower(string(sp.name.protocol)), nodePort: sp.nodePort}
		u.dests = append(u.dests, netip.AddrPortFrom(sp.clusterIP, sp.port))
		for _, a := range sp.externalIPs {
			u.dests = append(u.dests, netip.AddrPortFrom(a, sp.port))
		}
		u.endpoints = slices.SortedFunc(maps.Keys(used), netip.AddrPort.Compare)
		if sp.name.protocol == v1.ProtocolUDP {
			st.udp[sp.name] = u
		} else {
			st.streams[sp.name] = u
		}
	}
}
