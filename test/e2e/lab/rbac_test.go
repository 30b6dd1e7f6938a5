//go:build netns && integration

package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// componentPods lists the running Pods of one of the chart's components ("controller",
// "speaker").
func (l *lab) componentPods(t testing.TB, component string) []corev1.Pod {
	t.Helper()
	pods, err := l.kube.CoreV1().Pods(supervisor.ChartNamespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=" + component, FieldSelector: "status.phase=Running"})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// podToken reads the ServiceAccount token the kubelet projected into a running Pod, from the
// node's kubelet directory: what the component authenticates with.
func (l *lab) podToken(t *testing.T, pod corev1.Pod) string {
	t.Helper()
	pattern := filepath.Join(l.o.Dir, "nodes", pod.Spec.NodeName, "kubelet", "pods", string(pod.UID),
		"volumes", "kubernetes.io~projected", "*", "token")
	files, _ := filepath.Glob(pattern)
	if len(files) != 1 {
		t.Fatalf("Pod %s: projected tokens %v (%s)", pod.Name, files, pattern)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkChartIdentity checks that each Pod of component runs as the chart's ServiceAccount
// account with the kubelet's projected token, may do what it needs and is refused what the chart
// does not grant.
func (l *lab) checkChartIdentity(t *testing.T, component, account string, want int, allowed, denied []authorizationv1.ResourceAttributes) {
	t.Helper()
	pods := l.componentPods(t, component)
	if len(pods) != want {
		t.Fatalf("%d running Pods of the %s, want %d", len(pods), component, want)
	}
	for _, pod := range pods {
		if pod.Spec.ServiceAccountName != account {
			t.Errorf("Pod %s runs as ServiceAccount %q, want %q", pod.Name, pod.Spec.ServiceAccountName, account)
		}
		cfg, err := supervisor.RESTConfig(l.o)
		if err != nil {
			t.Fatal(err)
		}
		cfg = rest.AnonymousClientConfig(cfg)
		cfg.BearerToken = l.podToken(t, pod)
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("Pod %s's token: %v", pod.Name, err)
		}
		user := review.Status.UserInfo
		if want := "system:serviceaccount:" + supervisor.ChartNamespace + ":" + account; user.Username != want {
			t.Errorf("Pod %s authenticates as %q, want %q", pod.Name, user.Username, want)
		}
		// A projected token is bound to its Pod: the API server says which.
		if got := user.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
			t.Errorf("Pod %s's token is bound to Pod %v", pod.Name, got)
		}
		for _, tc := range []struct {
			attrs []authorizationv1.ResourceAttributes
			want  bool
		}{{allowed, true}, {denied, false}} {
			for _, a := range tc.attrs {
				r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(),
					&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a}},
					metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status.Allowed != tc.want {
					t.Errorf("%s (%s) may %s %s/%s in %q: %v, want %v", component, pod.Name, a.Verb, a.Group, a.Resource+subresource(a), a.Namespace, r.Status.Allowed, tc.want)
				}
			}
		}
	}
}

func subresource(a authorizationv1.ResourceAttributes) string {
	if a.Subresource == "" {
		return ""
	}
	return "/" + a.Subresource
}

// testChartRBAC checks that frontdesk's components run as the ServiceAccounts the chart rendered,
// with its RBAC: not the admin.
func testChartRBAC(t *testing.T, l *lab) {
	ra := func(verb, group, resource, sub, ns string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: sub, Namespace: ns}
	}
	l.checkChartIdentity(t, "controller", supervisor.ChartRelease+"-controller", 2,
		[]authorizationv1.ResourceAttributes{
			ra("patch", "", "services", "status", "default"),
			ra("create", "frontdesk.dev", "ipallocations", "", ""),
			ra("update", "frontdesk.dev", "ippools", "status", ""),
		},
		[]authorizationv1.ResourceAttributes{
			ra("update", "", "services", "", "default"),
			ra("list", "", "secrets", "", ""),
			ra("create", "", "pods", "", "default"),
			ra("delete", "", "nodes", "", ""),
		})
	l.checkChartIdentity(t, "speaker", supervisor.ChartRelease+"-speaker", len(l.plan.Nodes),
		[]authorizationv1.ResourceAttributes{
			ra("update", "frontdesk.dev", "ipallocations", "status", ""),
			ra("watch", "", "services", "", ""),
			ra("get", "", "pods", "", supervisor.ChartNamespace),
		},
		[]authorizationv1.ResourceAttributes{
			ra("get", "", "pods", "", "default"),
			ra("list", "", "pods", "", supervisor.ChartNamespace),
			ra("update", "frontdesk.dev", "ipallocations", "", ""),
			ra("patch", "", "services", "status", "default"),
			ra("list", "", "secrets", "", ""),
		})
}

// checkNothingForbidden fails if a frontdesk component's log shows a request the API server
// refused: the chart's RBAC must be enough for everything the walkthrough made them do. The logs
// are the containers', as kubectl logs shows them.
func checkNothingForbidden(t *testing.T, l *lab) {
	checked := 0
	for _, component := range []string{"controller", "speaker"} {
		for _, pod := range l.componentPods(t, component) {
			checked++
			for _, line := range strings.Split(l.kubectl(t, "logs", "-n", supervisor.ChartNamespace, pod.Name), "\n") {
				if strings.Contains(line, "forbidden") {
					t.Errorf("%s: %s", pod.Name, line)
				}
			}
		}
	}
	if want := 2 + len(l.plan.Nodes); checked != want {
		t.Errorf("checked the logs of %d frontdesk Pods, want %d", checked, want)
	}
}

// serviceAccountToken creates ServiceAccount default/name bound cluster-wide to clusterRole, and
// that ClusterRole with rules when rules are given (an existing one, such as view, otherwise), all
// deleted when the test ends, and returns a token for the ServiceAccount: a user of the lab's with
// exactly that access.
func (l *lab) serviceAccountToken(t *testing.T, name, clusterRole string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := t.Context()
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = l.kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		if len(rules) > 0 {
			_ = l.kube.RbacV1().ClusterRoles().Delete(ctx, clusterRole, metav1.DeleteOptions{})
		}
		_ = l.kube.CoreV1().ServiceAccounts("default").Delete(ctx, name, metav1.DeleteOptions{})
	})
	if len(rules) > 0 {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRole}, Rules: rules}
		if _, err := l.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: name}}}
	if _, err := l.kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if _, err := l.kube.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := l.kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}
