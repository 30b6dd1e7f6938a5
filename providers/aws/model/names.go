package model

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
)

// Tag keys on every resource frontdesk creates. Only resources carrying
// TagCluster=owned and TagServiceUID are ever deleted.
const (
	TagClusterPrefix    = "kubernetes.io/cluster/"
	TagOwned            = "owned"
	TagServiceNamespace = "frontdesk.dev/service-namespace"
	TagServiceName      = "frontdesk.dev/service-name"
	TagServiceUID       = "frontdesk.dev/service-uid"
	TagResource         = "frontdesk.dev/resource"

	ResourceLoadBalancer  = "load-balancer"
	ResourceTargetGroup   = "target-group"
	ResourceSecurityGroup = "security-group"
)

// ClusterTag is the key that marks a resource as this cluster's.
func ClusterTag(cluster string) string { return TagClusterPrefix + cluster }

// OwnerTags are the tags naming the cluster and Service that own a resource.
func OwnerTags(cluster string, o Owner, resource string) map[string]string {
	return map[string]string{
		ClusterTag(cluster): TagOwned,
		TagServiceNamespace: o.Namespace,
		TagServiceName:      o.Name,
		TagServiceUID:       o.UID,
		TagResource:         resource,
	}
}

// OwnedBy reports whether tags say the resource is cluster's, created for a
// Service (any Service when uid is empty).
func OwnedBy(tags map[string]string, cluster, uid string) bool {
	if tags[ClusterTag(cluster)] != TagOwned || tags[TagServiceUID] == "" {
		return false
	}
	return uid == "" || tags[TagServiceUID] == uid
}

// OwnerOf reads the owner back from a resource's tags.
func OwnerOf(tags map[string]string) Owner {
	return Owner{Namespace: tags[TagServiceNamespace], Name: tags[TagServiceName], UID: tags[TagServiceUID]}
}

// Load balancer and target group names are at most 32 characters of
// [A-Za-z0-9-] (an AWS limit), so they carry a readable prefix of the
// namespace and name and a hash that makes them unique: the hash covers the
// cluster, the Service's UID (a re-created Service never meets its
// predecessor's resources) and everything about the resource that AWS cannot
// change in place, so such a change gives a new resource beside the old one.
func lbName(cluster string, o Owner, immutable ...string) string {
	return name(8, o, append([]string{cluster, o.UID}, immutable...)...)
}

// LoadBalancerName is the name of the Service's load balancer. The hash
// covers what AWS cannot change on a live load balancer: its type, scheme,
// address type (kept there so every such change goes through the same
// create-then-delete path) and Elastic IPs.
func LoadBalancerName(cluster string, svc *v1.Service, spec *annotations.Spec) string {
	o := Owner{Namespace: svc.Namespace, Name: svc.Name, UID: string(svc.UID)}
	return lbName(cluster, o, string(spec.Type), strconv.FormatBool(spec.Internal), strconv.FormatBool(spec.DualStack),
		strings.Join(spec.EIPAllocations, ","))
}

func tgName(lb string, o Owner, parts ...string) string {
	return name(7, o, append([]string{lb}, parts...)...)
}

func sgName(cluster string, o Owner, lb string) string {
	return "k8s-" + o.Namespace + "-" + o.Name + "-" + hash(cluster, lb)
}

func name(width int, o Owner, parts ...string) string {
	return "k8s-" + trunc(o.Namespace, width) + "-" + trunc(o.Name, width) + "-" + hash(parts...)
}

func trunc(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func hash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:10]
}
