package charttest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func valueSetNamed(t *testing.T, name string) valueSet {
	t.Helper()
	i := slices.IndexFunc(valueSets, func(vs valueSet) bool { return vs.name == name })
	if i < 0 {
		t.Fatalf("no value set %q", name)
	}
	return valueSets[i]
}

func controllerOf(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return into[appsv1.Deployment](t, mustFind(t, objs, "Deployment", "frontdesk-controller"))
}

func speakerOf(t *testing.T, objs []*unstructured.Unstructured) *appsv1.DaemonSet {
	t.Helper()
	return into[appsv1.DaemonSet](t, mustFind(t, objs, "DaemonSet", "frontdesk-speaker"))
}

// TestControllerArgs: provider, leader election and the cloud config, per value set.
func TestControllerArgs(t *testing.T) {
	common := []string{
		"--cluster-name=kubernetes", "--controllers=*", "--configure-cloud-routes=false",
		"--load-balancer-class=frontdesk.dev/lb", "--serve-default-class=true",
		"--leader-elect=true", "--leader-elect-resource-lock=leases",
		"--leader-elect-resource-namespace=" + releaseNS, "--leader-elect-resource-name=" + leaseName,
		"--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
		"--secure-port=10258",
	}
	tests := []struct {
		set     string
		args    []string
		env     []corev1.EnvVar
		volumes []string
	}{
		{set: "defaults", args: append([]string{"--cloud-provider=baremetal"}, append(common, "--v=2")...), volumes: []string{"tmp"}},
		{set: "aws",
			args: append(append([]string{"--cloud-provider=aws", "--cluster-name=prod-eu"}, common[1:]...),
				"--cloud-config=/etc/frontdesk/cloud-config", "--v=2"),
			env:     []corev1.EnvVar{{Name: "AWS_REGION", Value: "eu-west-1"}},
			volumes: []string{"tmp", "cloud-config"}},
		// With the node proxy the controller tells Services what the proxies refuse, with their settings.
		{set: "bgp-proxy", args: append(append([]string{"--cloud-provider=baremetal", "--cluster-name=kubernetes",
			"--controllers=*,node-proxy-events", "--allowed-external-ip-cidrs=", "--max-ports-per-service=100",
			"--max-endpoints-per-service-port=5000"}, common[2:]...), "--v=2"), volumes: []string{"tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			objs := render(t, valueSetNamed(t, tt.set))
			d := controllerOf(t, objs)
			if got := *d.Spec.Replicas; got != 2 {
				t.Errorf("replicas = %d, want 2", got)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if diff := cmp.Diff(tt.args, c.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.env, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			var vols []string
			for _, v := range d.Spec.Template.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			if diff := cmp.Diff(tt.volumes, vols); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
			if tt.set == "aws" {
				s := into[corev1.Secret](t, mustFind(t, objs, "Secret", "frontdesk-controller-cloud-config"))
				if got := string(s.Data["cloud-config"]); !strings.Contains(got, "vpcID: vpc-0123456789abcdef0") {
					t.Errorf("cloud config Secret holds %q", got)
				}
			}
		})
	}
}

// TestLeaseRoleMatchesArgs: the Role's resourceNames name the Lease the controller elects with.
func TestLeaseRoleMatchesArgs(t *testing.T) {
	objs := render(t, valueSets[0])
	role := into[rbacv1.Role](t, mustFind(t, objs, "Role", "frontdesk-controller-leader-election"))
	var named []string
	for _, r := range role.Rules {
		named = append(named, r.ResourceNames...)
	}
	arg := "--leader-elect-resource-name=" + strings.Join(named, ",")
	if !slices.Contains(controllerOf(t, objs).Spec.Template.Spec.Containers[0].Args, arg) {
		t.Errorf("the controller does not run with %s", arg)
	}
}

// TestSpeaker: host network, the node name, the liveness key, ports and the proxy flag.
func TestSpeaker(t *testing.T) {
	tests := []struct {
		set                  string
		proxy                bool
		proxyArgs            []string // with proxy: what follows --proxy=nftables
		bootIDConfigMap      string
		keySecret, keyPath   string
		acceptPath           string
		quorum               bool
		apiHost              string
		generatedKeyRendered bool
	}{
		{set: "defaults", keySecret: "frontdesk-liveness-key", keyPath: "/etc/frontdesk/liveness/key",
			acceptPath: "/etc/frontdesk/liveness/accept", generatedKeyRendered: true},
		{set: "baremetal", keySecret: "speaker-key", keyPath: "/etc/frontdesk/liveness/heartbeat", acceptPath: "/etc/frontdesk/liveness/heartbeat-next",
			quorum: true},
		{set: "bgp-proxy", proxy: true, proxyArgs: []string{"--bgp", "--bgp-asn=64513", "--proxy=nftables", "--proxy-exclude-dead-nodes=true",
			"--proxy-allowed-external-ip-cidrs=", "--proxy-max-ports-per-service=100", "--proxy-max-endpoints-per-service-port=5000",
			"--proxy-healthz-bind-address=[$(POD_IP)]:10256"},
			keySecret: "frontdesk-liveness-key", keyPath: "/etc/frontdesk/liveness/key", acceptPath: "/etc/frontdesk/liveness/accept",
			apiHost: "192.0.2.10", generatedKeyRendered: true},
		{set: "proxy-lab", proxy: true, proxyArgs: []string{"--proxy=nftables", "--proxy-exclude-dead-nodes=false",
			"--proxy-allowed-external-ip-cidrs=", "--proxy-max-ports-per-service=100", "--proxy-max-endpoints-per-service-port=5000",
			"--proxy-healthz-bind-address=[$(POD_IP)]:10256", "--boot-id-file=/etc/frontdesk/boot-id/$(NODE_NAME)"}, bootIDConfigMap: "frontdesk-lab-boot-ids",
			keySecret: "frontdesk-liveness-key", keyPath: "/etc/frontdesk/liveness/key", acceptPath: "/etc/frontdesk/liveness/accept",
			generatedKeyRendered: true},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			objs := render(t, valueSetNamed(t, tt.set))
			ds := speakerOf(t, objs)
			pod := ds.Spec.Template.Spec
			if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
				t.Errorf("hostNetwork=%v dnsPolicy=%s; want true, ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
			}
			if !slices.ContainsFunc(pod.Tolerations, func(t corev1.Toleration) bool { return t.Operator == corev1.TolerationOpExists && t.Key == "" }) {
				t.Errorf("tolerations %v: want one that tolerates every taint", pod.Tolerations)
			}
			c := pod.Containers[0]
			wantArgs := []string{"--liveness-port=7473", "--liveness-bind-address=$(POD_IP)", "--liveness-key-file=" + tt.keyPath, "--liveness-accept-key-file=" + tt.acceptPath,
				"--liveness-quorum=" + strconv.FormatBool(tt.quorum), "--load-balancer-class=frontdesk.dev/lb",
				"--metrics-bind-address=[$(POD_IP)]:7472", "--drain=300ms", "--restart-grace=30s"}
			wantArgs = append(wantArgs, tt.proxyArgs...)
			wantArgs = append(wantArgs, "--v=2")
			if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
					env[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
				default:
					env[e.Name] = e.Value
				}
			}
			if env["NODE_NAME"] != "field:spec.nodeName" || env["POD_IP"] != "field:status.podIP" || env["POD_NAMESPACE"] != "field:metadata.namespace" ||
				env["POD_NAME"] != "field:metadata.name" {
				t.Errorf("env %v: want NODE_NAME, POD_IP, POD_NAME and POD_NAMESPACE from the downward API", env)
			}
			if env["KUBERNETES_SERVICE_HOST"] != tt.apiHost {
				t.Errorf("KUBERNETES_SERVICE_HOST = %q, want %q", env["KUBERNETES_SERVICE_HOST"], tt.apiHost)
			}
			// The key file is the Secret's key, mounted where the flag points; the boot ID file, with
			// a ConfigMap, is the node's key of it (optional: a node missing from it runs unknown).
			var secretName, bootCM string
			for _, v := range pod.Volumes {
				switch {
				case v.Secret != nil:
					secretName = v.Secret.SecretName
				case v.ConfigMap != nil && v.Name == "boot-id":
					bootCM = v.ConfigMap.Name
					if v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional {
						t.Errorf("boot-id volume %+v: want optional", v.ConfigMap)
					}
				default:
					t.Errorf("unexpected volume %+v", v)
				}
			}
			if secretName != tt.keySecret || bootCM != tt.bootIDConfigMap {
				t.Errorf("key volume from Secret %q, boot IDs from ConfigMap %q; want %q, %q", secretName, bootCM, tt.keySecret, tt.bootIDConfigMap)
			}
			wantMounts := []string{tt.keyPath}
			if tt.bootIDConfigMap != "" {
				wantMounts = append(wantMounts, "/etc/frontdesk/boot-id/$(NODE_NAME)")
			}
			if len(c.VolumeMounts) != len(wantMounts) {
				t.Errorf("mounts %+v, want %d", c.VolumeMounts, len(wantMounts))
			}
			for i, m := range c.VolumeMounts {
				if i < len(wantMounts) && (!strings.HasPrefix(wantMounts[i], m.MountPath+"/") || !m.ReadOnly) {
					t.Errorf("mount %+v does not hold %s read-only", m, wantMounts[i])
				}
			}
			gen := find(objs, "Secret", "frontdesk-liveness-key")
			if (gen != nil) != tt.generatedKeyRendered {
				t.Fatalf("generated key Secret rendered = %v, want %v", gen != nil, tt.generatedKeyRendered)
			}
			if gen != nil {
				key := into[corev1.Secret](t, gen).Data["key"]
				if len(key) < 16 {
					t.Errorf("generated key has %d bytes; the speaker wants at least 16", len(key))
				}
			}
			ports := map[string]string{}
			for _, p := range c.Ports {
				ports[p.Name] = string(p.Protocol) + "/" + strings.TrimSpace(yamlOf(p.ContainerPort))
			}
			if diff := cmp.Diff(map[string]string{"liveness": "UDP/7473", "metrics": "TCP/7472"}, ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
		})
	}
}

func yamlOf(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// TestGeneratedKeysDiffer: two renders without a live Secret make two random keys (the lookup
// keeps an installed one; the integration test checks that).
func TestGeneratedKeysDiffer(t *testing.T) {
	key := func() string {
		s := into[corev1.Secret](t, mustFind(t, render(t, valueSets[0]), "Secret", "frontdesk-liveness-key"))
		return base64.StdEncoding.EncodeToString(s.Data["key"])
	}
	if a, b := key(), key(); a == b {
		t.Errorf("two renders made the same key %s", a)
	}
}

// TestSelectors: the PDB and the metrics Services select their component's pods, and only those.
func TestSelectors(t *testing.T) {
	objs := render(t, valueSets[0])
	ctrl := labels.Set(controllerOf(t, objs).Spec.Template.Labels)
	spk := labels.Set(speakerOf(t, objs).Spec.Template.Labels)
	pdb := into[policyv1.PodDisruptionBudget](t, mustFind(t, objs, "PodDisruptionBudget", "frontdesk-controller"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	sel := labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels)
	if !sel.Matches(ctrl) || sel.Matches(spk) {
		t.Errorf("PDB selector %s: must match the controller's pods only", sel)
	}
	for _, tt := range []struct {
		svc        string
		own, other labels.Set
		port       string
	}{
		{"frontdesk-controller-metrics", ctrl, spk, "https"},
		{"frontdesk-speaker-metrics", spk, ctrl, "metrics"},
	} {
		s := into[corev1.Service](t, mustFind(t, objs, "Service", tt.svc))
		sel := labels.SelectorFromSet(s.Spec.Selector)
		if !sel.Matches(tt.own) || sel.Matches(tt.other) {
			t.Errorf("Service %s selector %s matches the wrong pods", tt.svc, sel)
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort.String() != tt.port {
			t.Errorf("Service %s ports %+v: want target port %s", tt.svc, s.Spec.Ports, tt.port)
		}
	}
}

// TestObjectsFromValues: IPPools, L2Advertisements and BGP objects come from values, spec as given.
func TestObjectsFromValues(t *testing.T) {
	objs := render(t, valueSetNamed(t, "baremetal"))
	pool := mustFind(t, objs, "IPPool", "reserved")
	want := map[string]any{"addresses": []any{"203.0.113.0/28"}, "autoAssign": false}
	if diff := cmp.Diff(want, pool.Object["spec"]); diff != "" {
		t.Errorf("IPPool reserved spec (-want +got):\n%s", diff)
	}
	if pool.GetLabels()["tier"] != "manual" || pool.GetLabels()["app.kubernetes.io/instance"] != releaseName {
		t.Errorf("IPPool labels %v: want the chart's and tier=manual", pool.GetLabels())
	}
	if pool.GetNamespace() != "" || pool.GetAPIVersion() != "frontdesk.dev/v1alpha1" {
		t.Errorf("IPPool %s/%s: want cluster-scoped frontdesk.dev/v1alpha1", pool.GetAPIVersion(), pool.GetNamespace())
	}
	mustFind(t, objs, "L2Advertisement", "lan")
	bgp := render(t, valueSetNamed(t, "bgp-objects"))
	mustFind(t, bgp, "BGPPeer", "tor-a")
	mustFind(t, bgp, "BGPAdvertisement", "all")
	if find(render(t, valueSets[0]), "IPPool", "lan") != nil {
		t.Error("the defaults create an IPPool")
	}
}

// TestComponentsFollowValues: which objects each value set installs.
func TestComponentsFollowValues(t *testing.T) {
	tests := []struct {
		set           string
		speaker, pdb  bool
		controllerSA  bool
		metricsSvc    bool
		bgpSecretRole bool
	}{
		{set: "defaults", speaker: true, pdb: true, controllerSA: true, metricsSvc: true},
		{set: "aws", speaker: false, pdb: true, controllerSA: true, metricsSvc: true},
		{set: "bgp-proxy", speaker: true, pdb: true, controllerSA: true, metricsSvc: true, bgpSecretRole: true},
		{set: "off", speaker: false, pdb: false, controllerSA: false, metricsSvc: false},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			objs := render(t, valueSetNamed(t, tt.set))
			got := map[string]bool{
				"speaker":       find(objs, "DaemonSet", "frontdesk-speaker") != nil,
				"speaker RBAC":  find(objs, "ClusterRole", "frontdesk-speaker") != nil,
				"pdb":           find(objs, "PodDisruptionBudget", "frontdesk-controller") != nil,
				"controller SA": find(objs, "ServiceAccount", "frontdesk-controller") != nil,
				"metrics":       find(objs, "Service", "frontdesk-controller-metrics") != nil,
				"bgp secrets":   find(objs, "Role", "frontdesk-speaker-bgp-secrets") != nil,
			}
			want := map[string]bool{
				"speaker": tt.speaker, "speaker RBAC": tt.speaker, "pdb": tt.pdb, "controller SA": tt.controllerSA,
				"metrics": tt.metricsSvc, "bgp secrets": tt.bgpSecretRole,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
			if !tt.controllerSA && controllerOf(t, objs).Spec.Template.Spec.ServiceAccountName != "existing-controller" {
				t.Error("the controller does not use the ServiceAccount named in values")
			}
		})
	}
}

// TestNoPDBForOneReplica: a PDB with minAvailable 1 over one replica would block node drains.
func TestNoPDBForOneReplica(t *testing.T) {
	objs := render(t, valueSet{name: "one replica", values: `controller: {replicas: 1}`})
	if find(objs, "PodDisruptionBudget", "frontdesk-controller") != nil {
		t.Error("a PodDisruptionBudget is rendered for a single controller replica")
	}
	if find(render(t, valueSets[0]), "PodDisruptionBudget", "frontdesk-controller") == nil {
		t.Error("no PodDisruptionBudget for the default two replicas")
	}
}

// TestBGPASN: a 32-bit ASN reaches the flag as an integer (values are JSON numbers in Helm).
func TestBGPASN(t *testing.T) {
	args := speakerOf(t, render(t, valueSetNamed(t, "bgp-objects"))).Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--bgp") || !slices.Contains(args, "--bgp-asn=4200000000") {
		t.Errorf("speaker args %q: want --bgp --bgp-asn=4200000000", args)
	}
	if args := speakerOf(t, render(t, valueSets[0])).Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--bgp") {
		t.Errorf("BGP is off by default, but the speaker runs with %q", args)
	}
}

// TestPrometheusRule: off by default; on, it carries files/alerts.yaml's groups as they are (the
// file promtool tests, make alerts-test) and the labels a Prometheus' ruleSelector needs.
func TestPrometheusRule(t *testing.T) {
	if find(render(t, valueSets[0]), "PrometheusRule", "frontdesk") != nil {
		t.Error("the defaults create a PrometheusRule")
	}
	objs := render(t, valueSet{name: "alerts", values: `monitoring: {prometheusRule: {enabled: true, labels: {release: kube-prometheus}}}`})
	rule := mustFind(t, objs, "PrometheusRule", "frontdesk")
	if rule.GetLabels()["release"] != "kube-prometheus" || rule.GetLabels()["app.kubernetes.io/instance"] != releaseName {
		t.Errorf("labels %v: want the chart's and release=kube-prometheus", rule.GetLabels())
	}
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rule.Object["spec"]); diff != "" {
		t.Errorf("PrometheusRule spec differs from files/alerts.yaml (-want +got):\n%s", diff)
	}
}

// TestServiceMonitors: off by default; on, one per component whose metrics Service exists, each
// selecting exactly that Service's labels on its port, the controller's over HTTPS with a token.
func TestServiceMonitors(t *testing.T) {
	if find(render(t, valueSets[0]), "ServiceMonitor", "frontdesk-controller") != nil {
		t.Error("the defaults create a ServiceMonitor")
	}
	objs := render(t, valueSet{name: "monitors", values: `monitoring: {serviceMonitor: {enabled: true, labels: {release: kube-prometheus}, interval: 15s}}`})
	for _, c := range []struct{ component, port, scheme string }{{"controller", "https", "https"}, {"speaker", "metrics", ""}} {
		sm := mustFind(t, objs, "ServiceMonitor", "frontdesk-"+c.component)
		svc := mustFind(t, objs, "Service", "frontdesk-"+c.component+"-metrics")
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		if !labels.SelectorFromSet(sel).Matches(labels.Set(svc.GetLabels())) || len(sel) == 0 {
			t.Errorf("%s: selector %v does not match its metrics Service's labels %v", c.component, sel, svc.GetLabels())
		}
		for _, other := range objs {
			if other.GetKind() == "Service" && other.GetName() != svc.GetName() && len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(other.GetLabels())) {
				t.Errorf("%s: selector %v also matches Service %s", c.component, sel, other.GetName())
			}
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("%s: %d endpoints", c.component, len(eps))
		}
		ep := eps[0].(map[string]any)
		if ep["port"] != c.port || ep["interval"] != "15s" || (c.scheme != "" && ep["scheme"] != c.scheme) {
			t.Errorf("%s: endpoint %v, want port %s, interval 15s, scheme %q", c.component, ep, c.port, c.scheme)
		}
		if sm.GetLabels()["release"] != "kube-prometheus" {
			t.Errorf("%s: labels %v lack release=kube-prometheus", c.component, sm.GetLabels())
		}
	}
	off := render(t, valueSet{name: "monitors, no metrics Services", values: `
monitoring: {serviceMonitor: {enabled: true}}
controller: {metrics: {service: {enabled: false}}}
speaker: {metrics: {service: {enabled: false}}}`})
	if find(off, "ServiceMonitor", "frontdesk-controller") != nil || find(off, "ServiceMonitor", "frontdesk-speaker") != nil {
		t.Error("a ServiceMonitor without the metrics Service it selects")
	}
}

// TestDashboard: off by default; on, a ConfigMap Grafana's sidecar loads (its label), holding
// files/dashboard.json as it is, every panel querying something.
func TestDashboard(t *testing.T) {
	if find(render(t, valueSets[0]), "ConfigMap", "frontdesk-dashboard") != nil {
		t.Error("the defaults create the dashboard")
	}
	cm := mustFind(t, render(t, valueSet{name: "dashboard", values: `monitoring: {dashboard: {enabled: true}}`}), "ConfigMap", "frontdesk-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("labels %v: the sidecar looks for grafana_dashboard=1", cm.GetLabels())
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", "frontdesk.json")
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(data) != strings.TrimSpace(string(raw)) {
		t.Error("the ConfigMap does not hold files/dashboard.json as it is")
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(data), &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || len(dash.Panels) < 10 {
		t.Fatalf("uid %q, %d panels", dash.UID, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "frontdesk_") {
				t.Errorf("panel %q: query %q reads no frontdesk metric", p.Title, q.Expr)
			}
		}
	}
}
