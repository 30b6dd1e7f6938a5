package baremetal

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// The annotations a Service may carry. MetalLB's spellings are accepted as well, so that Services
// move over without edits; when both spellings are present they must agree.
const (
	AnnotationLoadBalancerIPs = "frontdesk.dev/load-balancer-ips"
	AnnotationIPPool          = "frontdesk.dev/ip-pool"
	AnnotationAllowSharedIP   = "frontdesk.dev/allow-shared-ip"
)

var aliases = map[string][]string{
	AnnotationLoadBalancerIPs: {"metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"},
	AnnotationIPPool:          {"metallb.io/address-pool", "metallb.universe.tf/address-pool"},
	AnnotationAllowSharedIP:   {"metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"},
}

// AnnotationError says which annotation (or field) of a Service is wrong and what is accepted. It is
// shown to the user in a warning Event, so it must be actionable on its own.
type AnnotationError struct {
	Name     string // annotation key or field path
	Value    string
	Problem  string
	Accepted string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("%s %q: %s; accepted: %s", e.Name, e.Value, e.Problem, e.Accepted)
}

// wishes is what a Service asks of the bare-metal provider, read from its spec and annotations.
type wishes struct {
	addrs      []netip.Addr // requested addresses, at most one per family
	pool       string       // requested pool, "" for any pool the Service may use
	sharingKey string       // "" when the Service does not share its address
}

// sharingKeyRE is the shape of a label value: keys end up in IPAllocation objects and metrics.
var sharingKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// poolNameRE is a DNS subdomain, the shape of an IPPool's name.
var poolNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// readWishes parses a Service's annotations and spec.loadBalancerIP. It never looks at pools: it only
// says what was asked, or what is malformed.
func readWishes(svc *v1.Service) (wishes, error) {
	var w wishes
	ips, name, err := annotation(svc, AnnotationLoadBalancerIPs)
	if err != nil {
		return w, err
	}
	if ips != "" {
		if w.addrs, err = parseAddrList(name, ips); err != nil {
			return w, err
		}
	}
	// spec.loadBalancerIP is deprecated but still used; it must not contradict the annotation.
	if lbIP := strings.TrimSpace(svc.Spec.LoadBalancerIP); lbIP != "" {
		a, err := parseAddr("spec.loadBalancerIP", lbIP, lbIP)
		if err != nil {
			return w, err
		}
		switch {
		case len(w.addrs) == 0:
			w.addrs = []netip.Addr{a}
		case !slices.Contains(w.addrs, a):
			return w, &AnnotationError{Name: "spec.loadBalancerIP", Value: lbIP,
				Problem:  fmt.Sprintf("contradicts annotation %s %q", name, ips),
				Accepted: "the same address in both, or only one of them"}
		}
	}

	if w.pool, name, err = annotation(svc, AnnotationIPPool); err != nil {
		return w, err
	}
	if w.pool != "" && !poolNameRE.MatchString(w.pool) {
		return w, &AnnotationError{Name: name, Value: w.pool, Problem: "is not a valid IPPool name",
			Accepted: "the name of an IPPool (lower-case letters, digits, '-' and '.')"}
	}

	if w.sharingKey, name, err = annotation(svc, AnnotationAllowSharedIP); err != nil {
		return w, err
	}
	if w.sharingKey != "" && !sharingKeyRE.MatchString(w.sharingKey) {
		return w, &AnnotationError{Name: name, Value: w.sharingKey, Problem: "is not a valid sharing key",
			Accepted: "up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"}
	}
	return w, nil
}

// annotation returns the trimmed value of key or of its MetalLB aliases, and the name it was found
// under. Two spellings with different values are an error.
func annotation(svc *v1.Service, key string) (value, name string, err error) {
	for _, k := range append([]string{key}, aliases[key]...) {
		v, ok := svc.Annotations[k]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if name == "" {
			value, name = v, k
			continue
		}
		if v != value {
			return "", "", &AnnotationError{Name: k, Value: v,
				Problem:  fmt.Sprintf("contradicts %s %q", name, value),
				Accepted: "one spelling of the annotation, or the same value in each"}
		}
	}
	return value, name, nil
}

func parseAddrList(name, s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[bool]bool{} // by "is IPv4"
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		a, err := parseAddr(name, s, f)
		if err != nil {
			return nil, err
		}
		if seen[a.Is4()] {
			return nil, &AnnotationError{Name: name, Value: s, Problem: "names two addresses of one family",
				Accepted: "at most one IPv4 and one IPv6 address, comma-separated"}
		}
		seen[a.Is4()] = true
		out = append(out, a)
	}
	return out, nil
}

func parseAddr(name, whole, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, &AnnotationError{Name: name, Value: whole,
			Problem:  fmt.Sprintf("%q is not an IP address", s),
			Accepted: "IPv4 or IPv6 addresses without zone, comma-separated, e.g. 198.51.100.7,2001:db8::7"}
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return netip.Addr{}, &AnnotationError{Name: name, Value: whole,
			Problem:  fmt.Sprintf("%s is not a usable load-balancer address (unspecified, loopback, multicast or link-local)", a),
			Accepted: "a unicast address from an IPPool"}
	}
	return a, nil
}
