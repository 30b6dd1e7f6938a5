package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// exportPolicy is the one global export policy. Its statements each match one peer (a
// neighbor set) and one group of prefixes with equal attributes (a prefix set), set those
// attributes and accept; the default is reject. Routes live in GoBGP's global RIB without
// attributes, so one prefix can go to two peers with different communities.
const exportPolicy = "frontdesk-export"

// importPolicy accepts the routes this speaker originates and nothing else: GoBGP runs the
// global import policy on local routes too, so a bare default reject would refuse ours.
const importPolicy = "frontdesk-import"

func importPolicyDef() *api.Policy {
	return &api.Policy{Name: importPolicy, Statements: []*api.Statement{{
		Name:       "local-only",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
	}}}
}

// initPolicies installs reject-by-default import and export.
func (s *Speaker) initPolicies(ctx context.Context) error {
	if err := s.srv.SetPolicies(ctx, &api.SetPoliciesRequest{Policies: []*api.Policy{importPolicyDef(), {Name: exportPolicy}}}); err != nil {
		return fmt.Errorf("bgp: installing the policies: %w", err)
	}
	for _, a := range []*api.PolicyAssignment{
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
			Policies: []*api.Policy{{Name: importPolicy}}},
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
			Policies: []*api.Policy{{Name: exportPolicy}}},
	} {
		if err := s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("bgp: assigning the %s policy: %w", a.Direction, err)
		}
	}
	return nil
}

// SetRoutes makes the advertised routes exactly want: by peer name, the routes to that peer.
// A peer not in want, or not configured by SetPeers, gets no route. Order of operations, so
// that no peer ever sees a route it should not: withdraw the prefixes no peer wants any more,
// install the new policy, add the new prefixes, then re-send (soft reset out) to the peers
// whose kept routes changed attributes or destination.
func (s *Speaker) SetRoutes(want map[string][]routes.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	next := map[string]map[netip.Prefix]routes.Route{}
	nextGlobal := map[netip.Prefix]bool{}
	for name, rs := range want {
		pc, ok := s.peers[name]
		if !ok {
			continue
		}
		m := map[netip.Prefix]routes.Route{}
		for _, r := range rs {
			// A session carries the routes of its own family: the next hop is the session's
			// local address.
			if !r.Prefix.IsValid() || r.Prefix.Addr().Is4() != pc.Address.Is4() {
				continue
			}
			r.Prefix = r.Prefix.Masked()
			m[r.Prefix] = r
			nextGlobal[r.Prefix] = true
		}
		next[name] = m
	}

	var gone, added []netip.Prefix
	for p := range s.global {
		if !nextGlobal[p] {
			gone = append(gone, p)
		}
	}
	for p := range nextGlobal {
		if !s.global[p] {
			added = append(added, p)
		}
	}
	// Peers whose routes that stay in the RIB changed: they need a soft reset out.
	var resend []string
	for name := range s.peers {
		old, cur := s.adv[name], next[name]
		for p, r := range cur {
			if o, ok := old[p]; s.global[p] && (!ok || !o.Equal(r)) {
				resend = append(resend, name)
				break
			}
		}
		if slices.Contains(resend, name) {
			continue
		}
		for p := range old {
			if _, ok := cur[p]; !ok && nextGlobal[p] {
				resend = append(resend, name)
				break
			}
		}
	}

	if err := s.deletePaths(gone); err != nil {
		return err
	}
	for _, p := range gone {
		delete(s.global, p)
	}
	if err := s.setPolicy(next); err != nil {
		return err
	}
	if err := s.addPaths(added); err != nil {
		return err
	}
	for _, p := range added {
		s.global[p] = true
	}
	s.adv = next
	for _, name := range resend {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: s.peers[name].Address.String(), Soft: true,
			Direction: api.ResetPeerRequest_DIRECTION_OUT})
		cancel()
		if err != nil {
			return fmt.Errorf("bgp: re-sending routes to peer %s: %w", name, err)
		}
	}
	return nil
}

// Routes returns, by peer name, the prefixes SetRoutes last applied, sorted.
func (s *Speaker) Routes() map[string][]netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]netip.Prefix{}
	for name, m := range s.adv {
		ps := keys(m)
		slices.SortFunc(ps, func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		out[name] = ps
	}
	return out
}

// setPolicy installs the export policy for adv, with s.mu held.
func (s *Speaker) setPolicy(adv map[string]map[netip.Prefix]routes.Route) error {
	req := &api.SetPoliciesRequest{}
	pol := &api.Policy{Name: exportPolicy}
	names := keys(adv)
	slices.Sort(names)
	for i, name := range names {
		pc := s.peers[name]
		nset := "n" + strconv.Itoa(i)
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: nset,
			List: []string{netip.PrefixFrom(pc.Address, pc.Address.BitLen()).String()},
		})
		// Group the peer's prefixes by attributes.
		groups := map[string][]routes.Route{}
		for _, r := range adv[name] {
			k := attrKey(r)
			groups[k] = append(groups[k], r)
		}
		gkeys := keys(groups)
		slices.Sort(gkeys)
		for j, k := range gkeys {
			rs := groups[k]
			pset := nset + "p" + strconv.Itoa(j)
			ds := &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: pset}
			for _, r := range rs {
				b := uint32(r.Prefix.Bits())
				ds.Prefixes = append(ds.Prefixes, &api.Prefix{IpPrefix: r.Prefix.String(), MaskLengthMin: b, MaskLengthMax: b})
			}
			req.DefinedSets = append(req.DefinedSets, ds)
			pol.Statements = append(pol.Statements, &api.Statement{
				Name: pset,
				Conditions: &api.Conditions{
					NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: nset},
					PrefixSet:   &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: pset},
				},
				Actions: actions(rs[0]),
			})
		}
	}
	req.Policies = []*api.Policy{importPolicyDef(), pol}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := s.srv.SetPolicies(ctx, req); err != nil {
		return fmt.Errorf("bgp: installing the export policy: %w", err)
	}
	return nil
}

// attrKey identifies a route's attributes and family (a prefix set holds one family).
func attrKey(r routes.Route) string {
	var b strings.Builder
	if r.Prefix.Addr().Is4() {
		b.WriteString("4")
	} else {
		b.WriteString("6")
	}
	for _, c := range r.Communities {
		b.WriteString(" " + c.String())
	}
	b.WriteString(" |")
	for _, c := range r.LargeCommunities {
		b.WriteString(" " + c.String())
	}
	if r.LocalPref != nil {
		b.WriteString(" lp" + strconv.FormatUint(uint64(*r.LocalPref), 10))
	}
	return b.String()
}

func actions(r routes.Route) *api.Actions {
	a := &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT}
	if len(r.Communities) > 0 {
		a.Community = &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD}
		for _, c := range r.Communities {
			a.Community.Communities = append(a.Community.Communities, c.String())
		}
	}
	if len(r.LargeCommunities) > 0 {
		a.LargeCommunity = &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD}
		for _, c := range r.LargeCommunities {
			a.LargeCommunity.Communities = append(a.LargeCommunity.Communities, c.String())
		}
	}
	if r.LocalPref != nil {
		a.LocalPref = &api.LocalPrefAction{Value: *r.LocalPref}
	}
	return a
}

// localPath is the global-RIB path of p: origin IGP, next hop unspecified, which GoBGP
// replaces with the session's local address when it sends the route.
func localPath(p netip.Prefix, withdraw bool) (*apiutil.Path, error) {
	nlri, err := gobgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, fmt.Errorf("bgp: prefix %s: %w", p, err)
	}
	fam, nh := gobgp.RF_IPv4_UC, netip.IPv4Unspecified()
	var attrs []gobgp.PathAttributeInterface
	attrs = append(attrs, gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP))
	if p.Addr().Is4() {
		a, err := gobgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	} else {
		fam, nh = gobgp.RF_IPv6_UC, netip.IPv6Unspecified()
		a, err := gobgp.NewPathAttributeMpReachNLRI(fam, []gobgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw, Age: time.Now().Unix()}, nil
}

func (s *Speaker) addPaths(ps []netip.Prefix) error {
	if len(ps) == 0 {
		return nil
	}
	paths := make([]*apiutil.Path, 0, len(ps))
	for _, p := range ps {
		path, err := localPath(p, false)
		if err != nil {
			return err
		}
		paths = append(paths, path)
	}
	if _, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: paths}); err != nil {
		return fmt.Errorf("bgp: adding %d routes: %w", len(ps), err)
	}
	return nil
}

func (s *Speaker) deletePaths(ps []netip.Prefix) error {
	if len(ps) == 0 {
		return nil
	}
	paths := make([]*apiutil.Path, 0, len(ps))
	for _, p := range ps {
		path, err := localPath(p, true)
		if err != nil {
			return err
		}
		paths = append(paths, path)
	}
	if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: paths}); err != nil {
		return fmt.Errorf("bgp: withdrawing %d routes: %w", len(ps), err)
	}
	return nil
}
