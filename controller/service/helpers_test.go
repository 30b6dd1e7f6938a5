package service

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

func TestNodeEligible(t *testing.T) {
	for _, tc := range []struct {
		name string
		node *v1.Node
		want bool
	}{
		{"ready", newNode("n"), true},
		{"not ready", newNode("n", objects.NotReady), false},
		{"ready unknown", newNode("n", objects.WithCondition(v1.NodeReady, v1.ConditionUnknown)), false},
		{"no conditions yet", newNode("n", objects.NoConditions), false},
		{"exclude label", newNode("n", objects.WithLabel(v1.LabelNodeExcludeBalancers, "")), false},
		{"exclude label true", newNode("n", objects.WithLabel(v1.LabelNodeExcludeBalancers, "true")), false},
		{"exclude label false", newNode("n", objects.WithLabel(v1.LabelNodeExcludeBalancers, "false")), true},
		{"exclude label garbage", newNode("n", objects.WithLabel(v1.LabelNodeExcludeBalancers, "maybe")), false},
		{"autoscaler taint", newNode("n", objects.WithTaint(served.TaintToBeDeleted)), false},
		{"other taint", newNode("n", objects.WithTaint("example.com/dedicated")), true},
		{"being deleted", newNode("n", nodeDeleting()), false},
		// A cordon stops new Pods, not traffic (docs/design/eligibility.md).
		{"cordoned", newNode("n", objects.Unschedulable), true},
		// The cloud's health checks find a broken data path; the speakers, with none in front
		// of them, do not announce from such a node.
		{"network unavailable", newNode("n", objects.WithCondition(v1.NodeNetworkUnavailable, v1.ConditionTrue)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeEligible(tc.node); got != tc.want {
				t.Errorf("nodeEligible() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNodeChangeMatters(t *testing.T) {
	ready := newNode("n")
	for _, tc := range []struct {
		name     string
		old, new *v1.Node
		want     bool
	}{
		{"heartbeat", ready, newNode("n"), false},
		{"becomes not ready", ready, newNode("n", objects.NotReady), true},
		{"becomes ready", newNode("n", objects.NotReady), ready, true},
		{"gets excluded", ready, newNode("n", objects.WithLabel(v1.LabelNodeExcludeBalancers, "true")), true},
		{"provider ID set", newNode("n", objects.WithProviderID("")), ready, true},
		{"provider ID of ineligible node", newNode("n", objects.NotReady, objects.WithProviderID("")),
			newNode("n", objects.NotReady), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeChangeMatters(tc.old, tc.new); got != tc.want {
				t.Errorf("nodeChangeMatters() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	ours := served.Classes{Names: []string{DefaultClass}, Unset: true}
	onlyClass := served.Classes{Names: []string{DefaultClass}}
	for _, tc := range []struct {
		name    string
		filter  served.Classes
		svc     *v1.Service
		tracked bool
		want    action
	}{
		{"no class, default served", ours, newService("s"), false, actEnsure},
		{"no class, default not served", onlyClass, newService("s"), false, actNone},
		{"our class", onlyClass, newService("s", objects.WithClass(DefaultClass)), false, actEnsure},
		{"other class", ours, newService("s", objects.WithClass(otherClass)), false, actNone},
		{"ClusterIP", ours, newService("s", withType(v1.ServiceTypeClusterIP)), false, actNone},
		{"NodePort", ours, newService("s", withType(v1.ServiceTypeNodePort)), false, actNone},

		{"our class deleted", ours, newService("s", objects.WithClass(DefaultClass), withFinalizerBy(FieldManager), beingDeleted()), false, actCleanup},
		{"our class deleted, finalizer by another manager", ours,
			newService("s", objects.WithClass(DefaultClass), withFinalizerBy("cloud-controller-manager"), beingDeleted()), false, actCleanup},
		{"our class deleted, no finalizer", ours, newService("s", objects.WithClass(DefaultClass), beingDeleted()), false, actNone},
		{"our class deleted, no finalizer, tracked", ours, newService("s", objects.WithClass(DefaultClass), beingDeleted()), true, actCleanup},
		{"other class deleted with finalizer", ours,
			newService("s", objects.WithClass(otherClass), withFinalizerBy("other-controller"), beingDeleted()), false, actNone},
		{"no class deleted, default not served", onlyClass,
			newService("s", withFinalizerBy("cloud-controller-manager"), beingDeleted()), false, actNone},

		// After a type change the API server has wiped the class: only the
		// finalizer's manager, or our memory, says whose it was.
		{"now ClusterIP, finalizer ours", onlyClass,
			newService("s", withType(v1.ServiceTypeClusterIP), withFinalizerBy(FieldManager)), false, actCleanup},
		{"now ClusterIP, finalizer another's", ours,
			newService("s", withType(v1.ServiceTypeClusterIP), withFinalizerBy("cloud-controller-manager")), false, actNone},
		{"now ClusterIP, finalizer another's, tracked", ours,
			newService("s", withType(v1.ServiceTypeClusterIP), withFinalizerBy("cloud-controller-manager")), true, actCleanup},
		{"now ClusterIP, no finalizer, tracked", ours, newService("s", withType(v1.ServiceTypeClusterIP)), true, actCleanup},
		{"now ClusterIP, bare finalizer", ours,
			newService("s", withType(v1.ServiceTypeClusterIP), withFinalizer(cleanupFinalizer)), false, actNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.filter, tc.svc, tc.tracked); got != tc.want {
				t.Errorf("decide() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFinalizerAddedByUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *v1.Service
		want bool
	}{
		{"ours", newService("s", withFinalizerBy(FieldManager)), true},
		{"another manager's", newService("s", withFinalizerBy("cloud-controller-manager")), false},
		{"no managed fields", newService("s", withFinalizer(cleanupFinalizer)), false},
		{"ours through the status subresource", newService("s", withFinalizerBy(FieldManager), func(s *v1.Service) {
			s.ManagedFields[0].Subresource = "status"
		}), true},
		{"ours, another finalizer", newService("s", withFinalizerBy(FieldManager), func(s *v1.Service) {
			s.ManagedFields[0].FieldsV1.SetRawString(`{"f:metadata":{"f:finalizers":{"v:\"example.com/x\"":{}}}}`)
		}), false},
		{"garbage", newService("s", withFinalizerBy(FieldManager), func(s *v1.Service) {
			s.ManagedFields[0].FieldsV1.SetRawString(`{`)
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := finalizerAddedByUs(tc.svc); got != tc.want {
				t.Errorf("finalizerAddedByUs() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatusEqual(t *testing.T) {
	vip, proxy := ptrTo(v1.LoadBalancerIPModeVIP), ptrTo(v1.LoadBalancerIPModeProxy)
	status := func(ingress ...v1.LoadBalancerIngress) *v1.LoadBalancerStatus {
		return &v1.LoadBalancerStatus{Ingress: ingress}
	}
	ip := func(addr string, mode *v1.LoadBalancerIPMode) v1.LoadBalancerIngress {
		return v1.LoadBalancerIngress{IP: addr, IPMode: mode}
	}
	for _, tc := range []struct {
		name string
		a, b *v1.LoadBalancerStatus
		want bool
	}{
		{"both empty", status(), &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{}}, true},
		{"same", status(ip("192.0.2.1", vip)), status(ip("192.0.2.1", vip)), true},
		{"unset ipMode is VIP", status(ip("192.0.2.1", nil)), status(ip("192.0.2.1", vip)), true},
		{"ipMode differs", status(ip("192.0.2.1", vip)), status(ip("192.0.2.1", proxy)), false},
		{"unset ipMode is not Proxy", status(ip("192.0.2.1", nil)), status(ip("192.0.2.1", proxy)), false},
		{"IP differs", status(ip("192.0.2.1", nil)), status(ip("192.0.2.2", nil)), false},
		{"order counts", status(ip("192.0.2.1", nil), ip("2001:db8::1", nil)),
			status(ip("2001:db8::1", nil), ip("192.0.2.1", nil)), false},
		{"one to none", status(ip("192.0.2.1", nil)), status(), false},
		{"hostname", status(v1.LoadBalancerIngress{Hostname: "lb.example"}), status(v1.LoadBalancerIngress{Hostname: "lb.example"}), true},
		{"port status differs", status(v1.LoadBalancerIngress{IP: "192.0.2.1", Ports: []v1.PortStatus{{Port: 80, Protocol: v1.ProtocolTCP}}}),
			status(ip("192.0.2.1", nil)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusEqual(tc.a, tc.b); got != tc.want {
				t.Errorf("statusEqual() = %v, want %v", got, tc.want)
			}
			if got := statusEqual(tc.b, tc.a); got != tc.want {
				t.Errorf("statusEqual() reversed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNormalizeStatusDoesNotChangeInput(t *testing.T) {
	in := &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "lb.example"}}}
	got := normalizeStatus(in)
	if in.Ingress[0].IPMode != nil {
		t.Errorf("normalizeStatus changed its input")
	}
	want := &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{
		{IP: "192.0.2.1", IPMode: ptrTo(v1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalizeStatus() (-want +got):\n%s", diff)
	}
}

func TestEnsureReason(t *testing.T) {
	base := newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.1", nil))
	prev := applied{svc: base.DeepCopy(), nodes: nodeSet{"a": "fake://a"}}
	for _, tc := range []struct {
		name      string
		prev      applied
		tracked   bool
		endpoints bool
		svc       *v1.Service
		want      string
	}{
		{"unchanged", prev, true, false, base, ""},
		{"API server defaulted ipMode", prev, true, false,
			newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.1", ptrTo(v1.LoadBalancerIPModeVIP))), ""},
		{"not tracked", applied{}, false, false, base, "not ensured since start"},
		{"finalizer removed", prev, true, false, newService("s", withIngressIP("192.0.2.1", nil)), "finalizer missing"},
		{"port changed", prev, true, false, newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.1", nil), func(s *v1.Service) {
			s.Spec.Ports[0].Port = 443
		}), "spec changed"},
		{"annotation added", prev, true, false, newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.1", nil),
			objects.WithAnnotations("frontdesk.dev/pool", "public")), "spec changed"},
		{"status edited by hand", prev, true, false, newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.99", nil)),
			"status changed outside the controller"},
		{"resync", applied{svc: prev.svc, nodes: prev.nodes, stale: true}, true, false, base, whyResync},
		{"endpoints changed", prev, true, true, base, whyEndpoints},
		{"endpoints changed and spec too", prev, true, true,
			newService("s", withFinalizerBy(FieldManager), withIngressIP("192.0.2.1", nil), objects.WithAnnotations("frontdesk.dev/pool", "public")), "spec changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ensureReason(tc.prev, tc.tracked, tc.endpoints, tc.svc); got != tc.want {
				t.Errorf("ensureReason() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*Config)
		wantErr string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"several classes", func(c *Config) { c.Classes = []string{DefaultClass, "example.com/lb"} }, ""},
		{"only default class", func(c *Config) { c.Classes = nil }, ""},
		{"nothing served", func(c *Config) { c.Classes, c.ServeDefaultClass = nil, false }, "no load-balancer class is served"},
		{"bad class", func(c *Config) { c.Classes = []string{"not a class"} }, `load-balancer class "not a class" is not valid`},
		{"negative resync", func(c *Config) { c.ResyncPeriod = -time.Second }, "negative resync period"},
		{"negative endpoints delay", func(c *Config) { c.EndpointsSyncDelay = -time.Second }, "endpoints sync delay (-1s)"},
		{"zero retry", func(c *Config) { c.MinRetryDelay = 0 }, "retry delays"},
		{"max below min", func(c *Config) { c.MaxRetryDelay = time.Second }, "retry delays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.Classes, cfg.ServeDefaultClass = nil, false
	if err := cfg.Validate(); !errors.Is(err, ErrServesNothing) {
		t.Errorf("Validate() = %v, want ErrServesNothing", err)
	}
}
