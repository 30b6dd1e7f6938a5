package allocator

import (
	"fmt"
	"net/netip"
	"slices"
)

// Sharing says with whom an owner may share an address. Two owners share one address only when
// their keys are non-empty and equal, their backends are equal, and no port/protocol appears in
// both. An empty key never shares.
type Sharing struct {
	// Key is the sharing key, e.g. from a Service annotation. Empty: the owner wants an address of
	// its own.
	Key string
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

// refusal says why an owner with sharing o cannot share with a holder with sharing h, or "" if it
// can.
func refusal(owner string, o Sharing, holder string, h Sharing) string {
	switch {
	case o.Key == "":
		return fmt.Sprintf("%q sets no sharing key", owner)
	case h.Key == "":
		return fmt.Sprintf("%q holds it without a sharing key", holder)
	case o.Key != h.Key:
		return fmt.Sprintf("sharing keys differ (%q has %q, %q has %q)", holder, h.Key, owner, o.Key)
	case o.Backend != h.Backend:
		return fmt.Sprintf("backends differ (%q has %q, %q has %q)", holder, h.Backend, owner, o.Backend)
	}
	for _, p := range o.Ports {
		if slices.Contains(h.Ports, p) {
			return fmt.Sprintf("both use port %s", p)
		}
	}
	return ""
}

// conflict checks that o may hold x alongside x's current holders (o's own entry aside).
func conflict(x netip.Addr, st *addrState, o *ownerState) *ErrConflict {
	for _, h := range st.holders {
		if h.name == o.name {
			continue
		}
		if r := refusal(o.name, o.sharing, h.name, h.sharing); r != "" {
			return &ErrConflict{Addr: x, Owner: o.name, Holder: h.name, Reason: r}
		}
	}
	return nil
}
