package announce

import "net/netip"

// Change is an address whose announcing node changed between two Plans, for an "announcing node
// changed" Event. From or To is "" when no node announced (or the address was absent).
type Change struct {
	Addr     netip.Addr
	From, To string
}

// Diff lists, sorted by address, the addresses whose Winner differs between prev and next,
// including addresses that appear or disappear with a winner. Both Plans must come from Compute
// (their Decisions sorted by address).
func Diff(prev, next Plan) []Change {
	var out []Change
	a, b := prev.Decisions, next.Decisions
	for len(a) > 0 || len(b) > 0 {
		var c Change
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].Addr.Less(b[0].Addr)):
			c = Change{Addr: a[0].Addr, From: a[0].Winner}
			a = a[1:]
		case len(a) == 0 || b[0].Addr.Less(a[0].Addr):
			c = Change{Addr: b[0].Addr, To: b[0].Winner}
			b = b[1:]
		default:
			c = Change{Addr: a[0].Addr, From: a[0].Winner, To: b[0].Winner}
			a, b = a[1:], b[1:]
		}
		if c.From != c.To {
			out = append(out, c)
		}
	}
	return out
}
