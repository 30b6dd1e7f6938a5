package proxy

import (
	"fmt"

	"sigs.k8s.io/knftables"
)

// Names of the objects every frontdesk table holds. Per-Service chains are named by chainNames
// (names.go); everything here is static and declared as data, so a full sync and a golden test see
// the same skeleton.
const (
	chainFilterPrerouting = "filter-prerouting"
	chainFilterInput      = "filter-input"
	chainFilterForward    = "filter-forward"
	chainFilterOutput     = "filter-output"
	chainNATPrerouting    = "nat-prerouting"
	chainNATOutput        = "nat-output"
	chainNATPostrouting   = "nat-postrouting"

	chainServices          = "services"
	chainEndpointsCheck    = "endpoints-check"
	chainFirewallCheck     = "firewall-check"
	chainMarkForMasquerade = "mark-for-masquerade"
	chainMasquerading      = "masquerading"
	chainReject            = "reject-chain"

	mapServiceIPs         = "service-ips"
	mapServiceNodePorts   = "service-nodeports"
	mapNoEndpointServices = "no-endpoint-services"
	mapNoEndpointNodePort = "no-endpoint-nodeports"
	setFirewallIPs        = "firewall-ips"
	setFirewallAllow      = "firewall-allow"
	setPodCIDRs           = "pod-cidrs"
	setNodePortIPs        = "nodeport-ips"
	setHairpin            = "hairpin"
)

// baseChain is one chain attached to a netfilter hook.
type baseChain struct {
	name     string
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
}

// baseChains are the hooks frontdesk attaches to. The filter chains run at -110, before DNAT
// (-100), so they still see the Service address: that is where Services without endpoints are
// rejected and loadBalancerSourceRanges are enforced. `reject` is only legal in input, forward and
// output, hence the no-endpoint check hangs off those three and not off prerouting. Numeric
// priorities because nft refuses the `dstnat` name on the input and forward hooks.
var baseChains = []baseChain{
	{chainFilterPrerouting, knftables.FilterType, knftables.PreroutingHook, "-110"},
	{chainFilterInput, knftables.FilterType, knftables.InputHook, "-110"},
	{chainFilterForward, knftables.FilterType, knftables.ForwardHook, "-110"},
	{chainFilterOutput, knftables.FilterType, knftables.OutputHook, "-110"},
	{chainNATPrerouting, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
	{chainNATOutput, knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
	{chainNATPostrouting, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
}

// family holds what differs between the ip and ip6 tables.
type family struct {
	nft      knftables.Family
	ip       string // the rule keyword: "ip" or "ip6"
	addrType string // the set type: "ipv4_addr" or "ipv6_addr"
	loopback string // never a NodePort destination: route_localnet stays off (CVE-2020-8558)
}

var (
	familyIPv4 = family{knftables.IPv4Family, "ip", "ipv4_addr", "127.0.0.0/8"}
	familyIPv6 = family{knftables.IPv6Family, "ip6", "ipv6_addr", "::1"}
)

// skeleton is the static part of a table: everything but the per-Service chains and the elements
// of the maps.
type skeleton struct {
	chains map[string][]string // name → rules, base chains included
	maps   []*knftables.Map
	sets   []*knftables.Set
	// elems are the static elements: the pod CIDRs and the NodePort addresses.
	elems []elem
}

// newSkeleton declares the static chains, maps and sets of one family's table. nodePortIPs nil
// means NodePorts answer on every local address but loopback.
func newSkeleton(fam family, opts modelOptions) skeleton {
	ip := fam.ip
	mark := fmt.Sprintf("0x%x", opts.masqueradeMark)
	nodePortMatch := fmt.Sprintf("fib daddr type local %s daddr != %s", ip, fam.loopback)
	if opts.nodePortIPs != nil {
		nodePortMatch = fmt.Sprintf("%s daddr @%s", ip, setNodePortIPs)
	}
	s := skeleton{chains: map[string][]string{
		chainFilterPrerouting: {"ct state new jump " + chainFirewallCheck},
		chainFilterInput:      {"ct state new jump " + chainEndpointsCheck},
		chainFilterForward:    {"ct state new jump " + chainEndpointsCheck},
		chainFilterOutput: {
			"ct state new jump " + chainEndpointsCheck,
			"ct state new jump " + chainFirewallCheck,
		},
		chainNATPrerouting:  {"jump " + chainServices},
		chainNATOutput:      {"jump " + chainServices},
		chainNATPostrouting: {"jump " + chainMasquerading},
		// The single dispatch: one lookup whatever the number of Services.
		chainServices: {
			fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", ip, mapServiceIPs),
			fmt.Sprintf("%s meta l4proto . th dport vmap @%s", nodePortMatch, mapServiceNodePorts),
		},
		chainEndpointsCheck: {
			fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", ip, mapNoEndpointServices),
			fmt.Sprintf("%s meta l4proto . th dport vmap @%s", nodePortMatch, mapNoEndpointNodePort),
		},
		chainFirewallCheck: {
			fmt.Sprintf("%s daddr . meta l4proto . th dport @%s %s daddr . meta l4proto . th dport . %s saddr != @%s drop",
				ip, setFirewallIPs, ip, ip, setFirewallAllow),
		},
		chainMarkForMasquerade: {fmt.Sprintf("meta mark set meta mark | %s", mark)},
		chainMasquerading: {
			fmt.Sprintf("ct status dnat %s saddr . %s daddr @%s masquerade fully-random", ip, ip, setHairpin),
			fmt.Sprintf("meta mark & %s == 0 return", mark),
			fmt.Sprintf("meta mark set meta mark ^ %s", mark),
			"masquerade fully-random",
		},
		// TCP is refused with a reset, not the ICMP unreachable of a bare `reject`: a client on
		// this node (a Pod, the node) gets the reply while its connect() still holds the socket,
		// and the kernel then keeps an ICMPv6 error only as a soft error, so the client learned of
		// the refusal only at its SYN retransmit a second later. A reset waits in the socket's
		// backlog and refuses the connection at once, in both families.
		chainReject: {"meta l4proto tcp reject with tcp reset", "reject"},
	}}
	svcKey := fam.addrType + " . inet_proto . inet_service"
	s.maps = []*knftables.Map{
		{Name: mapServiceIPs, Type: svcKey + " : verdict"},
		{Name: mapServiceNodePorts, Type: "inet_proto . inet_service : verdict"},
		{Name: mapNoEndpointServices, Type: svcKey + " : verdict"},
		{Name: mapNoEndpointNodePort, Type: "inet_proto . inet_service : verdict"},
	}
	s.sets = []*knftables.Set{
		{Name: setFirewallIPs, Type: svcKey},
		{Name: setFirewallAllow, Type: svcKey + " . " + fam.addrType, Flags: []knftables.SetFlag{knftables.IntervalFlag}},
		{Name: setPodCIDRs, Type: fam.addrType, Flags: []knftables.SetFlag{knftables.IntervalFlag}},
		{Name: setNodePortIPs, Type: fam.addrType},
		{Name: setHairpin, Type: fam.addrType + " . " + fam.addrType},
	}
	for _, p := range opts.podCIDRs {
		s.elems = append(s.elems, elem{set: setPodCIDRs, key: []string{p.String()}})
	}
	for _, a := range opts.nodePortIPs {
		s.elems = append(s.elems, elem{set: setNodePortIPs, key: []string{a.String()}})
	}
	return s
}
