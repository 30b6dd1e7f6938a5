package config

import (
	"fmt"
	"slices"
	"strings"
)

// DeletionProtection is the load-balancer attribute that makes every
// DeleteLoadBalancer fail: set by a tenant, it would hold the Service's
// finalizer, and with it the namespace, until an operator steps in. It is
// refused unless allow.loadBalancerAttributes names it; "*" does not cover it.
const DeletionProtection = "deletion_protection.enabled"

// AnyKey in an attribute list allows every key but DeletionProtection.
const AnyKey = "*"

// Allow is the allow-list for what a Service's annotations may name. Whoever
// may write a Service may otherwise serve another team's ACM certificate,
// take another team's Elastic IP or set any attribute on the load balancer
// (issue 17). A refusal reaches the Service as a Warning Event and nothing is
// changed in AWS for it.
type Allow struct {
	// CertificateARNPrefixes: every ARN in aws-load-balancer-ssl-cert must
	// start with one of these (e.g. "arn:aws:acm:eu-west-1:123456789012:certificate/").
	// Empty: no certificate may be named.
	CertificateARNPrefixes []string `json:"certificateARNPrefixes,omitempty"`
	// EIPAllocationIDs may be named in aws-load-balancer-eip-allocations.
	EIPAllocationIDs []string `json:"eipAllocationIDs,omitempty"`
	// EIPAllocationTags: an Elastic IP carrying every one of these tags may be
	// named too. The value "{namespace}" stands for the Service's namespace,
	// so an Elastic IP can be handed to one namespace by tagging it. Empty:
	// only EIPAllocationIDs count.
	EIPAllocationTags map[string]string `json:"eipAllocationTags,omitempty"`
	// LoadBalancerAttributes are the keys aws-load-balancer-attributes may
	// set. Absent: DefaultLoadBalancerAttributes; [] none; "*" every key but
	// deletion_protection.enabled, which must be listed by name.
	LoadBalancerAttributes []string `json:"loadBalancerAttributes,omitempty"`
	// TargetGroupAttributes are the keys aws-load-balancer-target-group-attributes
	// may set. Absent: every key (a target group serves only its Service); [] none.
	TargetGroupAttributes []string `json:"targetGroupAttributes,omitempty"`
}

// DefaultLoadBalancerAttributes touch nothing beyond the Service's own load
// balancer: access logs would write to a bucket of the tenant's choosing,
// deletion protection blocks cleanup.
var DefaultLoadBalancerAttributes = []string{"load_balancing.cross_zone.enabled", "dns_record.client_routing_policy"}

// CertificateAllowed reports whether arn is under an allowed prefix.
func (a *Allow) CertificateAllowed(arn string) bool {
	return slices.ContainsFunc(a.CertificateARNPrefixes, func(p string) bool { return strings.HasPrefix(arn, p) })
}

// EIPAllowedByID reports whether the allocation ID is listed.
func (a *Allow) EIPAllowedByID(id string) bool { return slices.Contains(a.EIPAllocationIDs, id) }

// EIPTags are the tags an Elastic IP must carry to be used by a Service in
// namespace, or nil when no tag allows one.
func (a *Allow) EIPTags(namespace string) map[string]string {
	if len(a.EIPAllocationTags) == 0 {
		return nil
	}
	out := make(map[string]string, len(a.EIPAllocationTags))
	for k, v := range a.EIPAllocationTags {
		out[k] = strings.ReplaceAll(v, "{namespace}", namespace)
	}
	return out
}

// LoadBalancerAttributeAllowed reports whether the attributes annotation may set key.
func (a *Allow) LoadBalancerAttributeAllowed(key string) bool {
	keys := a.LoadBalancerAttributes
	if keys == nil {
		keys = DefaultLoadBalancerAttributes
	}
	return keyAllowed(keys, key)
}

// TargetGroupAttributeAllowed reports whether the target-group-attributes annotation may set key.
func (a *Allow) TargetGroupAttributeAllowed(key string) bool {
	return a.TargetGroupAttributes == nil || keyAllowed(a.TargetGroupAttributes, key)
}

func keyAllowed(keys []string, key string) bool {
	if slices.Contains(keys, key) {
		return true
	}
	return key != DeletionProtection && slices.Contains(keys, AnyKey)
}

func (a *Allow) validate() []error {
	var errs []error
	for _, p := range a.CertificateARNPrefixes {
		if !strings.HasPrefix(p, "arn:") {
			errs = append(errs, fmt.Errorf("allow.certificateARNPrefixes: %q, accepted: ARN prefixes such as arn:aws:acm:eu-west-1:123456789012:certificate/", p))
		}
	}
	for _, id := range a.EIPAllocationIDs {
		if !strings.HasPrefix(id, "eipalloc-") {
			errs = append(errs, fmt.Errorf("allow.eipAllocationIDs: %q, accepted: allocation IDs eipalloc-…", id))
		}
	}
	for k := range a.EIPAllocationTags {
		if k == "" {
			errs = append(errs, fmt.Errorf("allow.eipAllocationTags: an empty tag key"))
		}
	}
	for _, f := range []struct {
		name string
		keys []string
	}{{"loadBalancerAttributes", a.LoadBalancerAttributes}, {"targetGroupAttributes", a.TargetGroupAttributes}} {
		for _, k := range f.keys {
			if strings.TrimSpace(k) == "" || strings.ContainsAny(k, "=,") {
				errs = append(errs, fmt.Errorf("allow.%s: %q, accepted: attribute keys such as deregistration_delay.timeout_seconds, or *", f.name, k))
			}
		}
	}
	return errs
}
