package allocator

import (
	"fmt"
	"net/netip"
	"slices"
)

// Sharing says with whom an owner may share an address. Two owners share one address only when
// their keys are non-empty and equal, their backends are equal, no port/protocol appears in both,
// and their scopes are equal or the address's pool has ShareAcrossScopes. An empty key never
// shares.
type Sharing struct {
	// Key is the sharing key, e.g. from a Service annotation. Empty: the owner wants an address of
	// its own.
	Key string
	// Scope is who the key belongs to: the bare-metal provider puts the Service's namespace here,
	// so that a key is a namespace's own (issue 17: a tenant who learns or guesses another
	// namespace's key must not join its address). Owners of different scopes share only in a pool
	// with ShareAcrossScopes.
	Scope string
	// Backend is an opaque compatibility string: owners share only if theirs are equal. The
	// bare-metal provider puts traffic-policy facts in it (externalTrafficPolicy Local Services must
	// select the same Pods, or one node would announce an address for Pods it does not run).
	Backend string
	// Ports are the owner's ports on the address.
	Ports []Port
}

func (s Sharing) validate() string {
	for _, p := range s.Ports {
		if p.Protocol.bit() == 0 {
			return fmt.Sprintf("port %d has protocol %q; want TCP, UDP or SCTP", p.Port, p.Protocol)
		}
		if p.Port == 0 {
			return fmt.Sprintf("port 0/%s is not a port; want 1-65535", p.Protocol)
		}
	}
	return ""
}

// ReasonOtherScope is the Reason of an *ErrConflict refused for the holder's scope alone: the
// owners' scopes differ and the address's pool does not have ShareAcrossScopes.
const ReasonOtherScope = "it is held in another scope, and its pool does not allow sharing across scopes"

// refusal says why an owner with sharing o cannot share with a holder with sharing h, or "" if it
// can; across allows owners of different scopes to share. The reason goes to the owner (a
// Service's Event): it never shows the holder's key or backend, which would hand the key to
// whoever asks for the address once, and it says nothing of a holder of another scope but that.
func refusal(owner string, o Sharing, holder string, h Sharing, across bool) string {
	switch {
	case o.Key == "":
		return fmt.Sprintf("%q sets no sharing key", owner)
	case o.Scope != h.Scope && !across:
		// Checked before the keys, so that the reply does not say whether a guessed key is right.
		return ReasonOtherScope
	case h.Key == "":
		return "the holder has no sharing key"
	case o.Key != h.Key:
		return fmt.Sprintf("the holder's sharing key is not %q", o.Key)
	case o.Backend != h.Backend:
		return fmt.Sprintf("the holder's backend is not %q", o.Backend)
	}
	for _, p := range o.Ports {
		if slices.Contains(h.Ports, p) {
			return fmt.Sprintf("both use port %s", p)
		}
	}
	return ""
}

// conflict checks that o may hold x alongside x's current holders (o's own entry aside); admitted
// are the owners AdmitAcrossScopes lets share x whatever their scopes.
func conflict(x netip.Addr, st *addrState, o *ownerState, admitted []string) *ErrConflict {
	pool := st.seg != nil && st.seg.pool.cfg.ShareAcrossScopes
	for _, h := range st.holders {
		if h.name == o.name {
			continue
		}
		across := pool || (slices.Contains(admitted, o.name) && slices.Contains(admitted, h.name))
		if r := refusal(o.name, o.sharing, h.name, h.sharing, across); r != "" {
			return &ErrConflict{Addr: x, Owner: o.name, Holder: h.name, Reason: r, Foreign: h.sharing.Scope != o.sharing.Scope}
		}
	}
	return nil
}

// AdmitAcrossScopes lets owners share x with each other whatever their scopes and x's pool say,
// as long as each of them holds it (the other rules of Sharing still apply): for shares made
// before scopes existed, which the caller finds on start-up and keeps rather than breaking
// (issue 17: keys became per namespace, and an upgrade must not move a Service that was sharing
// across namespaces). Call it before restoring the owners on x. An owner that gives x up leaves
// the list and is not admitted again, nor is any other owner. It reports whether the admission
// was needed: false when the pool that contains x allows sharing across scopes anyway.
func (a *IPAllocator) AdmitAcrossScopes(x netip.Addr, owners []string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seg := a.pools.lookup(x); seg != nil && seg.pool.cfg.ShareAcrossScopes {
		return false
	}
	a.across[x] = slices.Clone(owners)
	return true
}

// KeptShare is an address whose owners share it across scopes though its pool does not allow it
// (AdmitAcrossScopes, or a pool that stopped allowing it).
type KeptShare struct {
	Addr   netip.Addr
	Pool   string   // the pool that contains it, or last did
	Owners []string // sorted
}

// KeptShares lists the shares across scopes kept against their pool's rule, sorted by address.
func (a *IPAllocator) KeptShares() []KeptShare {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]KeptShare, 0, len(a.across))
	for x, owners := range a.across {
		k := KeptShare{Addr: x, Owners: slices.Sorted(slices.Values(owners))}
		if st := a.addrs[x]; st != nil {
			k.Pool = st.pool
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(p, q KeptShare) int { return p.Addr.Compare(q.Addr) })
	return out
}
