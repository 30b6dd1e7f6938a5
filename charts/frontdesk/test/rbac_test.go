package charttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"helm.sh/helm/v4/pkg/chart/common/util"
)

// An access is one API request an identity makes, as RBAC sees it. ns "" is a cluster-scoped
// resource or a request across all namespaces (a list or watch by an informer).
type access struct {
	verb, group, resource, sub, ns, name string
	why                                  string // the code that makes the request
}

func (a access) String() string {
	r := a.resource
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.group != "" {
		r += "." + a.group
	}
	where := "cluster-wide"
	if a.ns != "" {
		where = "in " + a.ns
	}
	if a.name != "" {
		where += " name " + a.name
	}
	return fmt.Sprintf("%s %s %s", a.verb, r, where)
}

func verbs(why, group, resource, sub, ns, name string, vs ...string) []access {
	out := make([]access, len(vs))
	for i, v := range vs {
		out[i] = access{verb: v, group: group, resource: resource, sub: sub, ns: ns, name: name, why: why}
	}
	return out
}

// settings are the values that decide which permissions the code needs.
type settings struct {
	provider         string
	bgp, proxy, runs bool // runs: the speaker is installed
	// The controllers --controllers runs.
	cloudNode, lifecycle, service bool
}

func settingsOf(t testing.TB, vs valueSet) settings {
	t.Helper()
	vals, err := util.CoalesceValues(mustChart(t), parseValues(t, vs.values))
	if err != nil {
		t.Fatal(err)
	}
	on := func(path ...string) bool {
		v, err := vals.PathValue(strings.Join(path, "."))
		b, _ := v.(bool)
		return err == nil && b
	}
	s := settings{provider: fmt.Sprint(vals["provider"]), bgp: on("announce", "bgp", "enabled"), proxy: on("proxy", "enabled")}
	s.runs = s.bgp || s.proxy || on("announce", "l2", "enabled")
	ctrl, _ := vals.PathValue("controller.controllers")
	var list []string
	for _, c := range ctrl.([]any) {
		list = append(list, fmt.Sprint(c))
	}
	s.cloudNode = runsController(list, "cloud-node", "cloud-node-controller")
	s.lifecycle = runsController(list, "cloud-node-lifecycle", "cloud-node-lifecycle-controller")
	s.service = runsController(list, "service", "service-lb-controller")
	return s
}

// runsController is cloud-provider's reading of --controllers: a controller runs if it is named
// (by alias or full name), or if "*" is given and it is not excluded with "-name".
func runsController(list []string, names ...string) bool {
	named, disabled := false, false
	for _, n := range names {
		named = named || slices.Contains(list, n)
		disabled = disabled || slices.Contains(list, "-"+n)
	}
	return named || (slices.Contains(list, "*") && !disabled)
}

const (
	leaseName       = "frontdesk-controller"
	controllerSA    = "frontdesk-controller"
	speakerSA       = "frontdesk-speaker"
	userNS          = "team-a" // a namespace holding Services
	authConfigMap   = "extension-apiserver-authentication"
	frontdeskGroup  = "frontdesk.dev"
	discoveryGroup  = "discovery.k8s.io"
	eventsGroup     = "events.k8s.io"
	coordination    = "coordination.k8s.io"
	controllerNSKey = "kube-system"
)

// controllerNeeds is every request frontdesk-controller makes (grep of providers/, cloud-provider's
// app and controllers, client-go's leader election and event recorder; docs/chart.md explains).
func controllerNeeds(s settings) []access {
	var a []access
	add := func(x []access) { a = append(a, x...) }
	add(verbs("shared informers", "", "nodes", "", "", "", "list", "watch"))
	add(verbs("node helpers, AWS provider", "", "nodes", "", "", "n1", "get"))
	if s.cloudNode {
		add(verbs("cloud-node: Update, Patch labels and taints", "", "nodes", "", "", "n1", "update", "patch"))
		add(verbs("cloud-node: PatchNodeStatus", "", "nodes", "status", "", "n1", "patch"))
	}
	if s.lifecycle {
		add(verbs("cloud-node-lifecycle: shutdown taint", "", "nodes", "", "", "n1", "patch"))
	}
	add(verbs("shared informers", "", "services", "", "", "", "list", "watch"))
	if s.service {
		add(verbs("servicecontroller: finalizer and status", "", "services", "status", userNS, "web", "patch"))
	}
	add(verbs("event recorders", "", "events", "", userNS, "", "create", "patch"))
	add(verbs("leader election events", "", "events", "", releaseNS, "", "create", "patch"))
	add(verbs("leader election", coordination, "leases", "", releaseNS, "", "create"))
	add(verbs("leader election", coordination, "leases", "", releaseNS, leaseName, "get", "update"))
	add(verbs("secure port: delegated authentication", "authentication.k8s.io", "tokenreviews", "", "", "", "create"))
	add(verbs("secure port: delegated authorization", "authorization.k8s.io", "subjectaccessreviews", "", "", "", "create"))
	add(verbs("secure port: client CA", "", "configmaps", "", controllerNSKey, authConfigMap, "get", "list", "watch"))
	switch s.provider {
	case "baremetal":
		add(verbs("baremetal: namespace selectors", "", "namespaces", "", "", "", "list", "watch"))
		add(verbs("baremetal: pools", frontdeskGroup, "ippools", "", "", "", "list", "watch"))
		add(verbs("baremetal: Service CIDRs, which no pool may overlap", "networking.k8s.io", "servicecidrs", "", "", "", "list", "watch"))
		add(verbs("baremetal: pool status", frontdeskGroup, "ippools", "status", "", "lan", "update"))
		add(verbs("baremetal: claims", frontdeskGroup, "ipallocations", "", "", "", "list", "watch", "create"))
		add(verbs("baremetal: claims", frontdeskGroup, "ipallocations", "", "", "198.51.100.7", "get", "update", "delete"))
	case "aws":
		if s.lifecycle {
			add(verbs("cloud-node-lifecycle: instance gone", "", "nodes", "", "", "n1", "delete"))
		}
		add(verbs("aws: ip targets", discoveryGroup, "endpointslices", "", "", "", "list", "watch"))
	}
	if s.proxy {
		add(verbs("node-proxy-events: endpoints per port", discoveryGroup, "endpointslices", "", "", "", "list", "watch"))
	}
	return a
}

// controllerMustNot are requests the controller must be refused.
func controllerMustNot(s settings) []access {
	var a []access
	add := func(x []access) { a = append(a, x...) }
	add(verbs("Services are only patched through services/status", "", "services", "", userNS, "web", "update", "patch", "delete", "get"))
	add(verbs("", "", "services", "", userNS, "", "create"))
	add(verbs("status is patched, never replaced", "", "services", "status", userNS, "web", "update"))
	add(verbs("no Secrets", "", "secrets", "", releaseNS, "", "get", "list"))
	add(verbs("no Secrets", "", "secrets", "", "", "", "list"))
	add(verbs("only its own Lease", coordination, "leases", "", releaseNS, "other", "get", "update"))
	add(verbs("only its own namespace's Leases", coordination, "leases", "", controllerNSKey, "kube-controller-manager", "update"))
	add(verbs("only the authentication ConfigMap", "", "configmaps", "", controllerNSKey, "kubeadm-config", "get"))
	add(verbs("no workloads", "", "pods", "", releaseNS, "", "create"))
	add(verbs("no tokens", "", "serviceaccounts", "token", releaseNS, "frontdesk-speaker", "create"))
	add(verbs("no RBAC", "rbac.authorization.k8s.io", "clusterroles", "", "", "", "create", "escalate", "bind"))
	add(verbs("pools are the admin's", frontdeskGroup, "ippools", "", "", "lan", "create", "update", "delete"))
	add(verbs("the announcers' part", frontdeskGroup, "ipallocations", "status", "", "198.51.100.7", "update"))
	add(verbs("the speaker's input", frontdeskGroup, "l2advertisements", "", "", "", "list"))
	if !s.cloudNode {
		add(verbs("no cloud-node controller", "", "nodes", "", "", "n1", "update"))
		add(verbs("no cloud-node controller", "", "nodes", "status", "", "n1", "patch"))
		if !s.lifecycle {
			add(verbs("no cloud node controller", "", "nodes", "", "", "n1", "patch"))
		}
	}
	if !s.service {
		add(verbs("no service controller", "", "services", "status", userNS, "web", "patch"))
	}
	if !s.lifecycle {
		add(verbs("no cloud-node-lifecycle controller", "", "nodes", "", "", "n1", "delete"))
	}
	switch s.provider {
	case "baremetal":
		add(verbs("baremetal never deletes Nodes", "", "nodes", "", "", "n1", "delete"))
		if !s.proxy {
			add(verbs("baremetal needs no endpoints without the node proxy", discoveryGroup, "endpointslices", "", "", "", "list"))
		}
	case "aws":
		add(verbs("aws needs no pools", frontdeskGroup, "ippools", "", "", "", "list"))
		add(verbs("aws needs no namespaces", "", "namespaces", "", "", "", "list"))
	}
	return a
}

// speakerNeeds is every request frontdesk-speaker makes (speaker/agent; the BGP and proxy rules
// are for components not in this tree yet).
func speakerNeeds(s settings) []access {
	var a []access
	add := func(x []access) { a = append(a, x...) }
	add(verbs("agent informers", "", "services", "", "", "", "list", "watch"))
	add(verbs("agent informers", "", "nodes", "", "", "", "list", "watch"))
	add(verbs("agent informers", discoveryGroup, "endpointslices", "", "", "", "list", "watch"))
	add(verbs("agent events", "", "events", "", userNS, "", "create", "patch"))
	add(verbs("agent informers", frontdeskGroup, "ippools", "", "", "", "list", "watch"))
	add(verbs("agent informers", frontdeskGroup, "l2advertisements", "", "", "", "list", "watch"))
	add(verbs("agent informers", frontdeskGroup, "ipallocations", "", "", "", "list", "watch"))
	add(verbs("publish: conflict re-read", frontdeskGroup, "ipallocations", "", "", "198.51.100.7", "get"))
	add(verbs("publish: announcers", frontdeskGroup, "ipallocations", "status", "", "198.51.100.7", "update"))
	add(verbs("restart or leave: its own Pod", "", "pods", "", releaseNS, "frontdesk-speaker-x7k2p", "get"))
	if s.bgp {
		add(verbs("bgp: informers", frontdeskGroup, "bgppeers", "", "", "", "list", "watch"))
		add(verbs("bgp: informers", frontdeskGroup, "bgpadvertisements", "", "", "", "list", "watch"))
		add(verbs("bgp: this node's session (apply)", frontdeskGroup, "bgppeers", "status", "", "tor-a", "patch"))
		add(verbs("bgp: MD5 passwords (informer)", "", "secrets", "", releaseNS, "", "list", "watch"))
	}
	// The proxy reads Services, EndpointSlices and Nodes (above); with it the speaker records the
	// dead-node Events on Nodes, which land in the default namespace.
	add(verbs("dead-node events on Nodes", "", "events", "", "default", "", "create", "patch"))
	return a
}

func speakerMustNot(s settings) []access {
	var a []access
	add := func(x []access) { a = append(a, x...) }
	add(verbs("reads Services only", "", "services", "", userNS, "web", "update", "patch", "delete"))
	add(verbs("reads Services only", "", "services", "status", userNS, "web", "update", "patch"))
	add(verbs("reads Nodes only", "", "nodes", "", "", "n1", "update", "patch", "delete"))
	add(verbs("reads Nodes only", "", "nodes", "status", "", "n1", "patch"))
	add(verbs("the controller's claims", frontdeskGroup, "ipallocations", "", "", "198.51.100.7", "update", "delete"))
	add(verbs("the controller's claims", frontdeskGroup, "ipallocations", "", "", "", "create"))
	add(verbs("the controller's pool status", frontdeskGroup, "ippools", "status", "", "lan", "update"))
	add(verbs("no Secrets elsewhere", "", "secrets", "", controllerNSKey, "", "get", "list"))
	add(verbs("no Secrets elsewhere", "", "secrets", "", "", "", "list"))
	add(verbs("no workloads", "", "pods", "", releaseNS, "", "create"))
	add(verbs("its own Pod only", "", "pods", "", releaseNS, "", "list", "watch"))
	add(verbs("its own Pod only", "", "pods", "", userNS, "web-1", "get"))
	add(verbs("its own Pod only", "", "pods", "", releaseNS, "frontdesk-speaker-x7k2p", "update", "patch", "delete"))
	add(verbs("no leases", coordination, "leases", "", releaseNS, leaseName, "update"))
	add(verbs("passwords through the informer only", "", "secrets", "", releaseNS, "tor-a-password", "get"))
	add(verbs("the admin's peers", frontdeskGroup, "bgppeers", "", "", "tor-a", "update", "patch", "delete"))
	add(verbs("sessions are applied, not replaced", frontdeskGroup, "bgppeers", "status", "", "tor-a", "update"))
	add(verbs("nothing uses events.k8s.io", eventsGroup, "events", "", userNS, "", "create"))
	if !s.bgp {
		add(verbs("no BGP without BGP", "", "secrets", "", releaseNS, "", "list"))
		add(verbs("no BGP without BGP", frontdeskGroup, "bgppeers", "", "", "", "list"))
		add(verbs("no BGP without BGP", frontdeskGroup, "bgppeers", "status", "", "tor-a", "patch"))
	}
	return a
}

// boundRules are the rules that apply to one ServiceAccount, by namespace ("" = everywhere).
type boundRules map[string][]rbacv1.PolicyRule

// builtinRoles are the API server's bootstrap Roles the chart binds to, as kube-apiserver defines
// them (the integration test checks the real ones).
var builtinRoles = map[string][]rbacv1.PolicyRule{
	"kube-system/extension-apiserver-authentication-reader": {{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"},
		ResourceNames: []string{authConfigMap},
	}},
}

func rulesFor(t *testing.T, objs []*unstructured.Unstructured, saNS, sa string) boundRules {
	t.Helper()
	out := boundRules{}
	isSubject := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == saNS
		})
	}
	roleRules := func(ref rbacv1.RoleRef, ns string) []rbacv1.PolicyRule {
		if ref.Kind == "ClusterRole" {
			return into[rbacv1.ClusterRole](t, mustFind(t, objs, "ClusterRole", ref.Name)).Rules
		}
		if r := find(objs, "Role", ref.Name); r != nil && r.GetNamespace() == ns {
			return into[rbacv1.Role](t, r).Rules
		}
		if rules, ok := builtinRoles[ns+"/"+ref.Name]; ok {
			return rules
		}
		t.Fatalf("RoleBinding in %s refers to Role %s, neither rendered nor built in", ns, ref.Name)
		return nil
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := into[rbacv1.ClusterRoleBinding](t, o)
			if isSubject(b.Subjects) {
				out[""] = append(out[""], roleRules(b.RoleRef, "")...)
			}
		case "RoleBinding":
			b := into[rbacv1.RoleBinding](t, o)
			if isSubject(b.Subjects) {
				out[b.Namespace] = append(out[b.Namespace], roleRules(b.RoleRef, b.Namespace)...)
			}
		}
	}
	return out
}

// allows evaluates RBAC as the API server does for resource requests.
func (b boundRules) allows(a access) bool {
	scopes := []string{""}
	if a.ns != "" {
		scopes = append(scopes, a.ns)
	}
	for _, scope := range scopes {
		for _, r := range b[scope] {
			if ruleAllows(r, a) {
				return true
			}
		}
	}
	return false
}

func ruleAllows(r rbacv1.PolicyRule, a access) bool {
	resource := a.resource
	if a.sub != "" {
		resource += "/" + a.sub
	}
	matches := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	if !matches(r.Verbs, a.verb) || !matches(r.APIGroups, a.group) || !matches(r.Resources, resource) {
		return false
	}
	return len(r.ResourceNames) == 0 || (a.name != "" && slices.Contains(r.ResourceNames, a.name))
}

type identityCase struct {
	name          string
	sa            string
	needs, forbid []access
}

func identities(s settings) []identityCase {
	out := []identityCase{{"controller", controllerSA, controllerNeeds(s), controllerMustNot(s)}}
	if s.runs {
		out = append(out, identityCase{"speaker", speakerSA, speakerNeeds(s), speakerMustNot(s)})
	}
	return out
}

// TestRBACLeastPrivilege checks, for each value set, that the rendered RBAC grants each
// ServiceAccount what its code needs and refuses what it must not do.
func TestRBACLeastPrivilege(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := render(t, vs)
			s := settingsOf(t, vs)
			for _, id := range identities(s) {
				sa := id.sa
				if id.name == "controller" && vs.name == "off" {
					sa = "existing-controller"
				}
				rules := rulesFor(t, objs, releaseNS, sa)
				for _, a := range id.needs {
					if !rules.allows(a) {
						t.Errorf("%s cannot %s (needed by %s)", id.name, a, a.why)
					}
				}
				for _, a := range id.forbid {
					if rules.allows(a) {
						t.Errorf("%s may %s (%s)", id.name, a, a.why)
					}
				}
			}
			if !s.runs && rulesFor(t, objs, releaseNS, speakerSA)[""] != nil {
				t.Error("the speaker has RBAC although it is not installed")
			}
		})
	}
}

// TestRBACShape checks the rules themselves: no wildcards, no non-resource URLs, Services read
// only, services/status patch only, and nothing outside the release namespace but the
// authentication reader binding.
func TestRBACShape(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := render(t, vs)
			for _, o := range objs {
				var rules []rbacv1.PolicyRule
				switch o.GetKind() {
				case "ClusterRole":
					rules = into[rbacv1.ClusterRole](t, o).Rules
				case "Role":
					rules = into[rbacv1.Role](t, o).Rules
					if o.GetNamespace() != releaseNS {
						t.Errorf("Role %s in %s; want the release namespace", o.GetName(), o.GetNamespace())
					}
				case "RoleBinding":
					authReader := o.GetNamespace() == "kube-system" && strings.HasSuffix(o.GetName(), "-authentication-reader")
					if ns := o.GetNamespace(); ns != releaseNS && !authReader {
						t.Errorf("RoleBinding %s in %s", o.GetName(), ns)
					}
					continue
				default:
					continue
				}
				for i, r := range rules {
					for _, problem := range ruleProblems(r) {
						t.Errorf("%s %s rule %d: %s", o.GetKind(), o.GetName(), i, problem)
					}
				}
			}
		})
	}
}

func ruleProblems(r rbacv1.PolicyRule) []string {
	var p []string
	for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
		if slices.Contains(list, "*") {
			p = append(p, fmt.Sprintf("wildcard in %v", list))
		}
	}
	if len(r.NonResourceURLs) > 0 {
		p = append(p, "non-resource URLs")
	}
	if slices.Contains(r.APIGroups, "") {
		for _, res := range r.Resources {
			switch res {
			case "services":
				for _, v := range r.Verbs {
					if v != "list" && v != "watch" {
						p = append(p, "services: "+v+"; Services are only read (their status is patched through services/status)")
					}
				}
			case "services/status":
				if !slices.Equal(r.Verbs, []string{"patch"}) {
					p = append(p, fmt.Sprintf("services/status: %v; want [patch]", r.Verbs))
				}
			}
		}
	}
	return p
}

// TestRBACShapeCatchesViolations: each rule ruleProblems must refuse.
func TestRBACShapeCatchesViolations(t *testing.T) {
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
	}{
		{"update services", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"update"}}},
		{"patch services", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list", "patch"}}},
		{"update services/status", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services/status"}, Verbs: []string{"patch", "update"}}},
		{"wildcard verb", rbacv1.PolicyRule{APIGroups: []string{"frontdesk.dev"}, Resources: []string{"ippools"}, Verbs: []string{"*"}}},
		{"wildcard group", rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"ippools"}, Verbs: []string{"get"}}},
		{"wildcard resource", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"get"}}},
		{"non-resource", rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := ruleProblems(tt.rule); len(p) == 0 {
				t.Errorf("ruleProblems(%+v) found nothing", tt.rule)
			}
		})
	}
}

// TestViewRole: the defaults add read-only access to frontdesk's objects to Kubernetes' view
// role (aggregation), and rbac.aggregateToView=false leaves it out.
func TestViewRole(t *testing.T) {
	role := into[rbacv1.ClusterRole](t, mustFind(t, render(t, valueSets[0]), "ClusterRole", "frontdesk-view"))
	if role.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Errorf("labels %v: not aggregated to view", role.Labels)
	}
	if len(role.Rules) != 1 {
		t.Fatalf("%d rules", len(role.Rules))
	}
	r := role.Rules[0]
	if !slices.Equal(r.APIGroups, []string{"frontdesk.dev"}) || !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) ||
		!slices.Contains(r.Resources, "ippools") || !slices.Contains(r.Resources, "ipallocations") {
		t.Errorf("rule %+v: want get, list, watch on frontdesk.dev's objects, IPPools and IPAllocations among them", r)
	}
	if find(render(t, valueSet{name: "no view", values: `rbac: {aggregateToView: false}`}), "ClusterRole", "frontdesk-view") != nil {
		t.Error("rbac.aggregateToView=false still renders the view role")
	}
}
