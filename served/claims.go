package served

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AddrKind says how a Service holds an address. The kinds are ranked by who may write them: a
// ClusterIP is allocated, unique, by the API server; a LoadBalancer ingress IP is written into
// status by a load-balancer controller; an externalIP by anyone who may edit the Service.
type AddrKind uint8

// The kinds, highest rank first.
const (
	KindClusterIP AddrKind = iota + 1
	KindLoadBalancerIP
	KindExternalIP
)

func (k AddrKind) String() string {
	switch k {
	case KindClusterIP:
		return "ClusterIP"
	case KindLoadBalancerIP:
		return "LoadBalancer IP"
	case KindExternalIP:
		return "externalIP"
	}
	return fmt.Sprintf("AddrKind(%d)", uint8(k))
}

// Claim is one Service holding one address.
type Claim struct {
	Service types.NamespacedName
	Kind    AddrKind
}

// ClaimsOf lists the addresses svc holds, each with its kind: spec.clusterIPs, the IPs of
// status.loadBalancer.ingress when svc is of type LoadBalancer (whatever their ipMode: a proxied
// VIP is still that Service's), and spec.externalIPs. Addresses are unmapped (::ffff:a.b.c.d is
// a.b.c.d), so that a mapped form cannot slip past a comparison.
func ClaimsOf(svc *corev1.Service) map[netip.Addr][]AddrKind {
	out := map[netip.Addr][]AddrKind{}
	add := func(s string, k AddrKind) {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			a = a.Unmap()
			if !slices.Contains(out[a], k) {
				out[a] = append(out[a], k)
			}
		}
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName {
		for _, s := range ips {
			add(s, KindClusterIP) // "None" does not parse
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			add(ing.IP, KindLoadBalancerIP)
		}
	}
	for _, s := range svc.Spec.ExternalIPs {
		add(s, KindExternalIP)
	}
	return out
}

// Claims indexes the addresses every Service holds, so that one Service's addresses can be
// checked against all the others' (Claims.CheckAddrs). Not safe for concurrent use.
type Claims struct {
	byAddr map[netip.Addr][]Claim
	bySvc  map[types.NamespacedName]map[netip.Addr][]AddrKind
}

// NewClaims returns an empty index.
func NewClaims() *Claims {
	return &Claims{byAddr: map[netip.Addr][]Claim{}, bySvc: map[types.NamespacedName]map[netip.Addr][]AddrKind{}}
}

// Of returns the claims on a; the caller must not change them.
func (c *Claims) Of(a netip.Addr) []Claim { return c.byAddr[a.Unmap()] }

// Set records svc's addresses, replacing what it held, and returns the other Services whose
// Claims.CheckAddrs verdict may have changed: those claiming, at a lower rank, an address whose owners
// changed.
func (c *Claims) Set(svc *corev1.Service) []types.NamespacedName {
	return c.replace(types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, ClaimsOf(svc))
}

// Delete forgets a Service; it returns what Set returns.
func (c *Claims) Delete(key types.NamespacedName) []types.NamespacedName {
	return c.replace(key, nil)
}

func (c *Claims) replace(key types.NamespacedName, cur map[netip.Addr][]AddrKind) []types.NamespacedName {
	old := c.bySvc[key]
	// changed are the addresses whose owning kinds (ClusterIP, LoadBalancer IP) for key changed:
	// only those can turn another Service's claim from refused to accepted or back.
	changed := map[netip.Addr]bool{}
	for a, kinds := range old {
		if owning(kinds) != owning(cur[a]) {
			changed[a] = true
		}
	}
	for a, kinds := range cur {
		if owning(kinds) != owning(old[a]) {
			changed[a] = true
		}
	}
	for a := range old {
		c.byAddr[a] = slices.DeleteFunc(c.byAddr[a], func(cl Claim) bool { return cl.Service == key })
		if len(c.byAddr[a]) == 0 {
			delete(c.byAddr, a)
		}
	}
	if len(cur) == 0 {
		delete(c.bySvc, key)
	} else {
		c.bySvc[key] = cur
	}
	for a, kinds := range cur {
		for _, k := range kinds {
			c.byAddr[a] = append(c.byAddr[a], Claim{key, k})
		}
	}
	var out []types.NamespacedName
	for _, a := range slices.SortedFunc(maps.Keys(changed), netip.Addr.Compare) {
		for _, cl := range c.byAddr[a] {
			if cl.Service != key && cl.Kind != KindClusterIP && !slices.Contains(out, cl.Service) {
				out = append(out, cl.Service)
			}
		}
	}
	return out
}

// owning sums up the kinds that own an address against others: a bit for ClusterIP, one for
// LoadBalancer IP.
func owning(kinds []AddrKind) uint8 {
	var b uint8
	for _, k := range kinds {
		if k == KindClusterIP || k == KindLoadBalancerIP {
			b |= 1 << k
		}
	}
	return b
}

// RefusalReason says why an address of a Service is not programmed.
type RefusalReason uint8

const (
	// NotAllowed: an externalIP outside the allowed CIDRs (--allowed-external-ip-cidrs).
	NotAllowed RefusalReason = iota + 1
	// Taken: the address is held at a higher rank (Refusal.Owner): an externalIP equal to a
	// ClusterIP or to another Service's LoadBalancer IP, or a LoadBalancer IP equal to a
	// ClusterIP. A ClusterIP is never an external address, even of its own Service.
	Taken
)

// Refusal is one address of a Service that node proxies do not program.
type Refusal struct {
	Addr   netip.Addr
	Kind   AddrKind // how the refused Service names it
	Reason RefusalReason
	Owner  Claim // for Taken
}

// Message says what was refused and why, for an Event on the refused Service svc: the owner's
// name only when it is in svc's namespace, so that a tenant probing addresses learns nothing of
// other namespaces' Services.
func (r Refusal) Message(svc types.NamespacedName) string {
	what := fmt.Sprintf("%s %s is not programmed by the node proxies", r.Kind, r.Addr)
	if r.Reason == NotAllowed {
		return what + ": it is outside the allowed external IP CIDRs (--allowed-external-ip-cidrs)"
	}
	owner := "of a Service in another namespace"
	switch {
	case r.Owner.Service == svc:
		owner = "of this Service"
	case r.Owner.Service.Namespace == svc.Namespace:
		owner = "of Service " + r.Owner.Service.Name
	}
	return fmt.Sprintf("%s: it is the %s %s", what, r.Owner.Kind, owner)
}

// CheckAddrs applies the ownership rule to the addresses c holds for the Service key (as the
// last Set recorded them) against every other Service in c:
//   - a ClusterIP always belongs to its Service;
//   - a LoadBalancer IP belongs to the Service(s) whose status carries it, unless it is a
//     ClusterIP, svc's own too (Services sharing one LoadBalancer IP all hold it);
//   - an externalIP is programmed only inside allowed, and never when it is a ClusterIP (svc's
//     own too) or another Service's LoadBalancer IP. Two externalIPs on one address are left to
//     the node proxy's port-level tie-break, as kube-proxy leaves them.
//
// It returns the refused addresses, sorted by address then kind.
func (c *Claims) CheckAddrs(key types.NamespacedName, allowed []netip.Prefix) []Refusal {
	mine := c.bySvc[key]
	var out []Refusal
	for _, a := range slices.SortedFunc(maps.Keys(mine), netip.Addr.Compare) {
		kinds := mine[a]
		owner, found := Claim{}, false
		for _, cl := range c.Of(a) {
			if cl.Service != key && cl.Kind != KindExternalIP && (!found || cl.Kind < owner.Kind ||
				cl.Kind == owner.Kind && cl.Service.String() < owner.Service.String()) {
				owner, found = cl, true
			}
		}
		if slices.Contains(kinds, KindLoadBalancerIP) {
			switch {
			case slices.Contains(kinds, KindClusterIP):
				out = append(out, Refusal{Addr: a, Kind: KindLoadBalancerIP, Reason: Taken, Owner: Claim{Service: key, Kind: KindClusterIP}})
			case found && owner.Kind == KindClusterIP:
				out = append(out, Refusal{Addr: a, Kind: KindLoadBalancerIP, Reason: Taken, Owner: owner})
			}
		}
		if !slices.Contains(kinds, KindExternalIP) {
			continue
		}
		switch {
		case slices.Contains(kinds, KindClusterIP):
			out = append(out, Refusal{Addr: a, Kind: KindExternalIP, Reason: Taken, Owner: Claim{Service: key, Kind: KindClusterIP}})
		case found:
			out = append(out, Refusal{Addr: a, Kind: KindExternalIP, Reason: Taken, Owner: owner})
		case !slices.ContainsFunc(allowed, func(p netip.Prefix) bool { return p.Contains(a) }):
			out = append(out, Refusal{Addr: a, Kind: KindExternalIP, Reason: NotAllowed})
		}
	}
	return out
}
