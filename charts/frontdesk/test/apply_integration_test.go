//go:build integration

package charttest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// applier applies objects with server-side apply, as `helm install --server-side` or
// `kubectl apply --server-side` would.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))}
}

func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	m, err := a.mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
	if err != nil {
		return err
	}
	var r dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		r = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: "frontdesk-chart-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = r.Apply(ctx, o.GetName(), o, opts)
	return err
}

// startCluster starts a control plane with the chart's CRDs and the release namespace.
func startCluster(t *testing.T) (*controlplane.Cluster, *applier) {
	t.Helper()
	return startClusterOn(t, controlplane.Start(t))
}

// startClusterOn installs the chart's CRDs and the release namespace on a started cluster.
func startClusterOn(t *testing.T, c *controlplane.Cluster) (*controlplane.Cluster, *applier) {
	t.Helper()
	ctx := t.Context()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatalf("installing the chart's CRDs: %v", err)
	}
	createNamespace(t, c, releaseNS, nil)
	return c, newApplier(t, c.Config)
}

func createNamespace(t *testing.T, c *controlplane.Cluster, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// integrationSets are the value sets whose every object the API server of this tree can take:
// those creating BGP objects only once the chart ships the BGP CRDs (they arrive with the BGP
// speaker; the set was checked against that branch's CRDs).
func integrationSets(t *testing.T) []valueSet {
	t.Helper()
	bgpCRDs := slices.ContainsFunc(crdObjects(t), func(o *unstructured.Unstructured) bool {
		return o.GetName() == "bgppeers.frontdesk.dev"
	})
	return slices.DeleteFunc(slices.Clone(valueSets), func(vs valueSet) bool {
		if vs.bgpObjects && !bgpCRDs {
			t.Logf("value set %s left out: the chart has no BGP CRDs yet", vs.name)
			return true
		}
		return false
	})
}

// TestChartOnAPIServer runs, for each value set, against its own real API server:
//   - every rendered object (CRs included) applied with server-side apply and dry-run=All, so
//     that validation, defaulting, CEL rules and admission all run;
//   - the pod templates admitted (dry-run) under Pod Security: the controller under restricted,
//     the speaker under privileged but refused under baseline;
//   - the RBAC objects created for real, then every request the code makes asked as the
//     ServiceAccount itself (SelfSubjectAccessReview with its token): allowed; and every request
//     it must not make: denied.
func TestChartOnAPIServer(t *testing.T) {
	for _, vs := range integrationSets(t) {
		t.Run(vs.name, func(t *testing.T) {
			c, a := startCluster(t)
			objs := render(t, vs)
			ctx := t.Context()
			for _, o := range objs {
				if err := a.apply(ctx, o, true); err != nil {
					t.Errorf("dry-run apply of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			checkPodSecurity(t, c, objs)
			createRBAC(t, a, objs)
			checkAccess(t, c, settingsOf(t, vs), vs)
		})
	}
}

// checkPodSecurity creates each workload's pod (dry-run) in namespaces enforcing Pod Security
// levels: the API server's PodSecurity admission decides.
func checkPodSecurity(t *testing.T, c *controlplane.Cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	levels := []string{"restricted", "baseline", "privileged"}
	for _, level := range levels {
		createNamespace(t, c, "psa-"+level, map[string]string{"pod-security.kubernetes.io/enforce": level})
	}
	for _, o := range objs {
		var tmpl corev1.PodTemplateSpec
		var want map[string]bool // level → admitted
		switch o.GetKind() {
		case "Deployment":
			tmpl = into[appsv1.Deployment](t, o).Spec.Template
			want = map[string]bool{"restricted": true, "baseline": true, "privileged": true}
		case "DaemonSet":
			tmpl = into[appsv1.DaemonSet](t, o).Spec.Template
			want = map[string]bool{"restricted": false, "baseline": false, "privileged": true}
		default:
			continue
		}
		for _, level := range levels {
			ns := "psa-" + level
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tmpl.Spec.ServiceAccountName, Namespace: ns}}
			if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: o.GetName() + "-", Namespace: ns, Labels: tmpl.Labels},
				Spec: *tmpl.Spec.DeepCopy()}
			pod.Spec.NodeName = "node-1"
			_, err := c.Client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case want[level] && err != nil:
				t.Errorf("%s %s: its pod is refused under Pod Security %q: %v", o.GetKind(), o.GetName(), level, err)
			case !want[level] && err == nil:
				t.Errorf("%s %s: its pod is admitted under Pod Security %q; the documentation says it is not", o.GetKind(), o.GetName(), level)
			case !want[level] && !strings.Contains(err.Error(), "PodSecurity"):
				t.Errorf("%s %s under %q: refused for another reason than Pod Security: %v", o.GetKind(), o.GetName(), level, err)
			}
		}
	}
}

// createRBAC creates the ServiceAccounts and RBAC objects for real.
func createRBAC(t *testing.T, a *applier, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := a.apply(t.Context(), o, false); err != nil {
				t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
}

// checkAccess asks the API server, as each ServiceAccount, for every access in its tables.
func checkAccess(t *testing.T, c *controlplane.Cluster, s settings, vs valueSet) {
	t.Helper()
	for _, id := range identities(s) {
		sa := id.sa
		if id.name == "controller" && vs.name == "off" {
			sa = "existing-controller"
		}
		client, err := kubernetes.NewForConfig(c.ConfigForServiceAccount(t, releaseNS, sa))
		if err != nil {
			t.Fatal(err)
		}
		allowed := func(ctx context.Context, a access) (bool, error) {
			r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Name: a.name,
				}}}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			return r.Status.Allowed, nil
		}
		// The authorizer learns of new RBAC objects from a watch: wait until the first need is
		// granted before trusting a denial.
		first := id.needs[0]
		if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 20*time.Second, true,
			func(ctx context.Context) (bool, error) { return allowed(ctx, first) }); err != nil {
			t.Fatalf("%s (%s): %s never allowed: %v", id.name, sa, first, err)
		}
		for _, a := range id.needs {
			ok, err := allowed(t.Context(), a)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Errorf("%s (%s) cannot %s, which %s needs", id.name, sa, a, a.why)
			}
		}
		for _, a := range id.forbid {
			ok, err := allowed(t.Context(), a)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				t.Errorf("%s (%s) may %s (%s)", id.name, sa, a, a.why)
			}
		}
	}
}

// TestLivenessKeySurvivesUpgrade: with a live cluster behind `lookup`, as on `helm upgrade`, the
// chart keeps the installed heartbeat key instead of making a new one (speakers with different
// keys would drop each other's heartbeats).
func TestLivenessKeySurvivesUpgrade(t *testing.T) {
	c, _ := startCluster(t)
	ch := mustChart(t)
	vals := parseValues(t, "")
	renderSecret := func() *corev1.Secret {
		objs, err := renderValues(ch, vals, c.Config)
		if err != nil {
			t.Fatal(err)
		}
		return into[corev1.Secret](t, mustFind(t, objs, "Secret", "frontdesk-liveness-key"))
	}
	renderKey := func() string { return string(renderSecret().Data["key"]) }
	first := renderKey()
	if second := renderKey(); second == first {
		t.Fatalf("without an installed Secret two renders made the same key %q", first)
	}
	installed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "frontdesk-liveness-key", Namespace: releaseNS},
		Data: map[string][]byte{"key": []byte(first)}}
	if _, err := c.Client.CoreV1().Secrets(releaseNS).Create(t.Context(), installed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := renderKey(); got != first {
		t.Errorf("upgrade rendered key %q; want the installed %q", got, first)
	}
	if s := renderSecret(); s.Data["accept"] != nil {
		t.Errorf("upgrade rendered an accepted key %q the installed Secret does not have", s.Data["accept"])
	}

	// In the middle of a rotation (docs/chart.md), an upgrade keeps both keys.
	installed.Data["accept"] = []byte("the-next-key-0123456789abcdef")
	if _, err := c.Client.CoreV1().Secrets(releaseNS).Update(t.Context(), installed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(installed.Data, renderSecret().Data); diff != "" {
		t.Errorf("upgrade during a rotation rendered keys (-installed +rendered):\n%s", diff)
	}
}

// TestDryRunRefusesBadObjects shows the dry-run apply above is a real check: objects the API
// server must refuse are refused, although the values pass the chart's schema.
func TestDryRunRefusesBadObjects(t *testing.T) {
	_, a := startCluster(t)
	tests := []struct {
		name, values, kind, obj string
	}{
		{"pool with a bad prefix", `ipPools: [{name: bad, spec: {addresses: ["198.51.100.0/33"]}}]`, "IPPool", "bad"},
		{"pool with no addresses", `ipPools: [{name: empty, spec: {avoidBuggyIPs: true}}]`, "IPPool", "empty"},
		{"advertisement with a bad interface", `l2Advertisements: [{name: bad, spec: {interfaces: ["eth0 eth1"]}}]`, "L2Advertisement", "bad"},
		{"bad toleration", `speaker: {tolerations: [{operator: Sometimes}]}`, "DaemonSet", "frontdesk-speaker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderValues(mustChart(t), parseValues(t, tt.values), nil)
			if err != nil {
				t.Fatalf("the values should pass the schema: %v", err)
			}
			err = a.apply(t.Context(), mustFind(t, objs, tt.kind, tt.obj), true)
			if !apierrors.IsInvalid(err) {
				t.Errorf("dry-run apply of %s %s: got %v, want Invalid", tt.kind, tt.obj, err)
			}
		})
	}
}
