package proxy

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

// tracer walks a packet through the rules a knftables fake holds, the way the kernel would for
// the first packet of a connection, and says what becomes of it. It understands exactly the rule
// shapes the proxy writes and fails the test on any other, so a new kind of rule cannot slip in
// untested. Where a rule picks an endpoint at random the tracer follows every branch (or the one
// pick chooses), and a trace is the sorted set of possible outcomes:
//
//	"DNAT 10.244.1.5:8080"        forwarded to that endpoint, source kept
//	"DNAT 10.244.1.5:8080 MASQ"   forwarded, source masqueraded to the node
//	"ACCEPT" "DROP" "REJECT"      no NAT; accepted, dropped, rejected (ICMP unreachable)
//	"RESET"                       rejected with a TCP reset
type tracer struct {
	t     testing.TB
	fake  *knftables.Fake
	ip    string // "ip" or "ip6"
	local func(netip.Addr) bool
	// pick, when set, decides the random endpoint choice instead of following every branch:
	// given n it returns the branch in [0, n).
	pick func(n int) int
	// affinity holds the clients the update statements recorded, per set.
	affinity map[string]map[netip.Addr]bool
}

type packet struct {
	src, dst netip.Addr
	proto    string
	dport    uint16
	// fromNode marks a packet the node itself sends (output path) rather than one arriving.
	fromNode bool
}

type traceState struct {
	daddr netip.Addr
	dport uint16
	mark  uint32
	dnat  netip.AddrPort
	masq  bool
}

type result struct {
	st       traceState
	terminal string // "", "ACCEPT", "DROP", "REJECT", "RESET"
}

func newTracer(t testing.TB, fake *knftables.Fake, fam knftables.Family, local ...netip.Addr) *tracer {
	t.Helper()
	ip := "ip"
	if fam == knftables.IPv6Family {
		ip = "ip6"
	}
	return &tracer{t: t, fake: fake, ip: ip, local: func(a netip.Addr) bool { return slices.Contains(local, a) },
		affinity: map[string]map[netip.Addr]bool{}}
}

// trace returns every possible outcome for pkt, sorted.
func (tr *tracer) trace(pkt packet) []string {
	tr.t.Helper()
	tr.fake.RLock()
	defer tr.fake.RUnlock()
	start := traceState{daddr: pkt.dst, dport: pkt.dport}
	hooks := [][]string{{chainFilterPrerouting}, {chainNATPrerouting}, {"route"}, {chainNATPostrouting}}
	if pkt.fromNode {
		hooks = [][]string{{chainFilterOutput}, {chainNATOutput}, {chainNATPostrouting}}
	}
	states := []result{{st: start}}
	for _, hook := range hooks {
		var next []result
		for _, r := range states {
			if r.terminal != "" {
				next = append(next, r)
				continue
			}
			chain := hook[0]
			if chain == "route" {
				chain = chainFilterForward
				if tr.local(r.st.daddr) {
					chain = chainFilterInput
				}
			}
			for _, out := range tr.run(pkt, chain, 0, r.st) {
				if out.terminal == "ACCEPT" {
					out.terminal = "" // a base chain's accept lets the packet on to the next hook
				}
				next = append(next, out)
			}
		}
		states = next
	}
	var outs []string
	for _, r := range states {
		s := r.terminal
		if s == "" {
			s = "ACCEPT"
			if r.st.dnat.IsValid() {
				s = "DNAT " + r.st.dnat.String()
			}
			if r.st.masq {
				s += " MASQ"
			}
		}
		if !slices.Contains(outs, s) {
			outs = append(outs, s)
		}
	}
	slices.Sort(outs)
	return outs
}

var (
	reCtNew      = regexp.MustCompile(`^ct state new (jump|goto) (\S+)$`)
	reVerdict    = regexp.MustCompile(`^(jump|goto) (\S+)$`)
	reSvcVmap    = regexp.MustCompile(`^(ip6?) daddr \. meta l4proto \. th dport vmap @(\S+)$`)
	reFibNPVmap  = regexp.MustCompile(`^fib daddr type local (ip6?) daddr != (\S+) meta l4proto \. th dport vmap @(\S+)$`)
	reSetNPVmap  = regexp.MustCompile(`^(ip6?) daddr @(\S+) meta l4proto \. th dport vmap @(\S+)$`)
	reFirewall   = regexp.MustCompile(`^(ip6?) daddr \. meta l4proto \. th dport @(\S+) (ip6?) daddr \. meta l4proto \. th dport \. (ip6?) saddr != @(\S+) drop$`)
	reMarkOr     = regexp.MustCompile(`^meta mark set meta mark \| (0x[0-9a-f]+)$`)
	reMarkTest   = regexp.MustCompile(`^meta mark & (0x[0-9a-f]+) == 0 return$`)
	reMarkXor    = regexp.MustCompile(`^meta mark set meta mark \^ (0x[0-9a-f]+)$`)
	reSaddrNotIn = regexp.MustCompile(`^(ip6?) saddr != @(\S+) (jump|goto) (\S+)$`)
	reSaddrIn    = regexp.MustCompile(`^(ip6?) saddr @(\S+) (jump|goto) (\S+)$`)
	reFibSaddr   = regexp.MustCompile(`^fib saddr type local (jump|goto) (\S+)$`)
	reHairpin    = regexp.MustCompile(`^ct status dnat (ip6?) saddr \. (ip6?) daddr @(\S+) masquerade fully-random$`)
	// reEndpoint is the rule that picks an endpoint: an optional random draw, an optional affinity
	// lookup, the protocol, an optional affinity update, the DNAT.
	reEndpoint = regexp.MustCompile(`^(?:numgen random mod (\d+) == 0 )?(?:(ip6?) saddr @(\S+) )?meta l4proto (tcp|udp|sctp) (?:update @(\S+) \{ (ip6?) saddr \} )?dnat to (\S+)$`)
)

// run evaluates chain from rule i on and returns every way it can end.
func (tr *tracer) run(pkt packet, chain string, i int, st traceState) []result {
	tr.t.Helper()
	c := tr.fake.Table.Chains[chain]
	if c == nil {
		tr.t.Fatalf("tracer: chain %q does not exist", chain)
	}
	if i >= len(c.Rules) {
		return []result{{st: st}} // end of chain: back to the caller (or the hook's accept policy)
	}
	rule := c.Rules[i].Rule
	cont := func(st traceState) []result { return tr.run(pkt, chain, i+1, st) }
	// verdict applies a jump or goto and continues as nftables does.
	verdict := func(kind, target string, st traceState) []result {
		var out []result
		for _, r := range tr.run(pkt, target, 0, st) {
			if r.terminal != "" || kind == "goto" {
				out = append(out, r)
				continue
			}
			out = append(out, cont(r.st)...)
		}
		return out
	}
	mapVerdict := func(mapName string, key ...string) []result {
		m := tr.fake.Table.Maps[mapName]
		if m == nil {
			tr.t.Fatalf("tracer: map %q does not exist", mapName)
		}
		el := m.FindElement(key...)
		if el == nil {
			return cont(st)
		}
		return tr.applyVerdict(el.Value[0], st, verdict, rule)
	}
	svcKey := []string{st.daddr.String(), pkt.proto, strconv.Itoa(int(st.dport))}

	switch {
	case reCtNew.MatchString(rule):
		m := reCtNew.FindStringSubmatch(rule)
		return verdict(m[1], m[2], st) // every traced packet starts a connection
	case reVerdict.MatchString(rule):
		m := reVerdict.FindStringSubmatch(rule)
		return verdict(m[1], m[2], st)
	case reSvcVmap.MatchString(rule):
		m := reSvcVmap.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		return mapVerdict(m[2], svcKey...)
	case reFibNPVmap.MatchString(rule):
		m := reFibNPVmap.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		if !tr.local(st.daddr) || prefixContains(tr.t, m[2], st.daddr) {
			return cont(st)
		}
		return mapVerdict(m[3], pkt.proto, strconv.Itoa(int(st.dport)))
	case reSetNPVmap.MatchString(rule):
		m := reSetNPVmap.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		if !tr.inSet(m[2], st.daddr.String()) {
			return cont(st)
		}
		return mapVerdict(m[3], pkt.proto, strconv.Itoa(int(st.dport)))
	case reFirewall.MatchString(rule):
		m := reFirewall.FindStringSubmatch(rule)
		if !tr.inSet(m[2], svcKey...) {
			return cont(st)
		}
		for _, el := range tr.fake.Table.Sets[m[5]].Elements {
			if slices.Equal(el.Key[:3], svcKey) && prefixContains(tr.t, el.Key[3], pkt.src) {
				return cont(st)
			}
		}
		return []result{{st: st, terminal: "DROP"}}
	case reMarkOr.MatchString(rule):
		st.mark |= parseMark(tr.t, reMarkOr.FindStringSubmatch(rule)[1])
		return cont(st)
	case reMarkTest.MatchString(rule):
		if st.mark&parseMark(tr.t, reMarkTest.FindStringSubmatch(rule)[1]) == 0 {
			return []result{{st: st}}
		}
		return cont(st)
	case reMarkXor.MatchString(rule):
		st.mark ^= parseMark(tr.t, reMarkXor.FindStringSubmatch(rule)[1])
		return cont(st)
	case rule == "masquerade fully-random":
		st.masq = true
		return []result{{st: st, terminal: "ACCEPT"}}
	case rule == "reject":
		return []result{{st: st, terminal: "REJECT"}}
	case rule == "meta l4proto tcp reject with tcp reset":
		if pkt.proto != "tcp" {
			return cont(st)
		}
		return []result{{st: st, terminal: "RESET"}}
	case rule == "drop":
		return []result{{st: st, terminal: "DROP"}}
	case reSaddrNotIn.MatchString(rule):
		m := reSaddrNotIn.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		if tr.inSet(m[2], pkt.src.String()) {
			return cont(st)
		}
		return verdict(m[3], m[4], st)
	case reSaddrIn.MatchString(rule):
		m := reSaddrIn.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		if !tr.inSet(m[2], pkt.src.String()) {
			return cont(st)
		}
		return verdict(m[3], m[4], st)
	case reFibSaddr.MatchString(rule):
		m := reFibSaddr.FindStringSubmatch(rule)
		if !tr.local(pkt.src) {
			return cont(st)
		}
		return verdict(m[1], m[2], st)
	case reHairpin.MatchString(rule):
		m := reHairpin.FindStringSubmatch(rule)
		tr.checkFamily(m[1], rule)
		if !st.dnat.IsValid() || !tr.inSet(m[3], pkt.src.String(), st.daddr.String()) {
			return cont(st)
		}
		st.masq = true
		return []result{{st: st, terminal: "ACCEPT"}}
	case reEndpoint.MatchString(rule):
		m := reEndpoint.FindStringSubmatch(rule)
		if m[2] != "" {
			tr.checkFamily(m[2], rule)
			if !tr.inSet(m[3], pkt.src.String()) {
				return cont(st)
			}
		}
		if m[4] != pkt.proto {
			return cont(st)
		}
		apply := func(st traceState) []result {
			if m[5] != "" {
				tr.checkFamily(m[6], rule)
				if tr.fake.Table.Sets[m[5]] == nil {
					tr.t.Fatalf("tracer: set %q does not exist", m[5])
				}
				if tr.affinity[m[5]] == nil {
					tr.affinity[m[5]] = map[netip.Addr]bool{}
				}
				tr.affinity[m[5]][pkt.src] = true
			}
			to := netip.MustParseAddrPort(m[7])
			st.dnat, st.daddr, st.dport = to, to.Addr(), to.Port()
			return []result{{st: st, terminal: "ACCEPT"}}
		}
		if m[1] == "" {
			return apply(st)
		}
		n, _ := strconv.Atoi(m[1])
		if tr.pick != nil {
			if tr.pick(n) == 0 {
				return apply(st)
			}
			return cont(st)
		}
		return append(apply(st), cont(st)...)
	}
	tr.t.Fatalf("tracer: rule %q in chain %q is not understood; teach the tracer before writing it", rule, chain)
	return nil
}

func (tr *tracer) applyVerdict(v string, st traceState, verdict func(string, string, traceState) []result, rule string) []result {
	tr.t.Helper()
	switch {
	case v == "drop":
		return []result{{st: st, terminal: "DROP"}}
	case strings.HasPrefix(v, "goto "), strings.HasPrefix(v, "jump "):
		kind, target, _ := strings.Cut(v, " ")
		return verdict(kind, target, st)
	}
	tr.t.Fatalf("tracer: verdict %q (from %q) is not understood", v, rule)
	return nil
}

func (tr *tracer) checkFamily(ip, rule string) {
	tr.t.Helper()
	if ip != tr.ip {
		tr.t.Fatalf("tracer: rule %q matches %s in an %s table", rule, ip, tr.ip)
	}
}

// inSet looks key up in a named set: exact match, or prefix match for a single-field interval set,
// or the clients an update statement recorded for a dynamic set.
func (tr *tracer) inSet(name string, key ...string) bool {
	tr.t.Helper()
	s := tr.fake.Table.Sets[name]
	if s == nil {
		tr.t.Fatalf("tracer: set %q does not exist", name)
	}
	if slices.Contains(s.Flags, knftables.DynamicFlag) {
		// Either recorded by this tracer, or written into the fake as the kernel's packet path
		// would have (tests of state surviving a sync put clients there).
		return tr.affinity[name][netip.MustParseAddr(key[0])] || s.FindElement(key...) != nil
	}
	if s.FindElement(key...) != nil {
		return true
	}
	if slices.Contains(s.Flags, knftables.IntervalFlag) && len(key) == 1 {
		a := netip.MustParseAddr(key[0])
		for _, el := range s.Elements {
			if prefixContains(tr.t, el.Key[0], a) {
				return true
			}
		}
	}
	return false
}

func prefixContains(t testing.TB, s string, a netip.Addr) bool {
	t.Helper()
	if !strings.Contains(s, "/") {
		return netip.MustParseAddr(s) == a
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatalf("tracer: %q is not a prefix: %v", s, err)
	}
	return p.Contains(a)
}

func parseMark(t testing.TB, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("tracer: mark %q: %v", s, err)
	}
	return uint32(v)
}
