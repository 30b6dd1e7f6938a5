//go:build netns && integration

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// componentKubeconfig is the --kubeconfig a running component of the lab was started with, read
// from its command line.
func (l *lab) componentKubeconfig(t *testing.T, component string) string {
	t.Helper()
	st, err := supervisor.ReadState(l.o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Pids[component]))
	if err != nil {
		t.Fatalf("%s (pid %d): %v", component, st.Pids[component], err)
	}
	for _, arg := range strings.Split(string(b), "\x00") {
		if kc, ok := strings.CutPrefix(arg, "--kubeconfig="); ok {
			return kc
		}
	}
	t.Fatalf("%s runs without --kubeconfig: %q", component, b)
	return ""
}

// checkChartIdentity checks that component runs as the chart's ServiceAccount account, may do
// what it needs and is refused what the chart does not grant.
func (l *lab) checkChartIdentity(t *testing.T, component, account string, allowed, denied []authorizationv1.ResourceAttributes) {
	t.Helper()
	cfg, err := supervisor.RESTConfigFrom(l.o, l.componentKubeconfig(t, component))
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "system:serviceaccount:" + supervisor.ChartNamespace + ":" + account
	if got := review.Status.UserInfo.Username; got != want {
		t.Errorf("%s authenticates as %q, want %q", component, got, want)
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
				t.Errorf("%s may %s %s/%s in %q: %v, want %v", component, a.Verb, a.Group, a.Resource+subresource(a), a.Namespace, r.Status.Allowed, tc.want)
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
	l.checkChartIdentity(t, "frontdesk-controller", supervisor.ChartRelease+"-controller",
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
	for _, n := range l.plan.Nodes {
		l.checkChartIdentity(t, "speaker/"+n.Name, supervisor.ChartRelease+"-speaker",
			[]authorizationv1.ResourceAttributes{
				ra("update", "frontdesk.dev", "ipallocations", "status", ""),
				ra("watch", "", "services", "", ""),
			},
			[]authorizationv1.ResourceAttributes{
				ra("update", "frontdesk.dev", "ipallocations", "", ""),
				ra("patch", "", "services", "status", "default"),
				ra("list", "", "secrets", "", ""),
			})
	}
}

// checkNothingForbidden fails if a frontdesk component's log shows a request the API server
// refused: the chart's RBAC must be enough for everything the walkthrough made them do.
func checkNothingForbidden(t *testing.T, l *lab) {
	logs, _ := filepath.Glob(filepath.Join(l.o.Dir, "logs", "*.log"))
	checked, want := 0, 1+len(l.plan.Nodes)
	for _, f := range logs {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "frontdesk-controller") && !strings.HasPrefix(base, "speaker_") {
			continue
		}
		checked++
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "forbidden") {
				t.Errorf("%s: %s", base, line)
			}
		}
	}
	if checked != want {
		t.Errorf("checked %d logs of frontdesk components, want %d", checked, want)
	}
}
