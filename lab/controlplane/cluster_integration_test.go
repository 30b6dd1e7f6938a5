//go:build integration

package controlplane_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// One dual-stack cluster serves every subtest here: a start costs seconds,
// and the subtests only add objects of their own.
func TestCluster(t *testing.T) {
	const token = "0123456789abcdef" // test-only static token
	c := controlplane.Start(t, controlplane.WithDualStack(), controlplane.WithToken(token, "token-user", "token-group"))

	t.Run("dual-stack Service gets one ClusterIP per family", func(t *testing.T) {
		testDualStackService(t, c)
	})
	t.Run("identities", func(t *testing.T) {
		tests := []struct {
			name       string
			cfg        *rest.Config
			wantUser   string
			wantGroups []string
		}{{
			name:       "admin",
			cfg:        c.Config,
			wantUser:   controlplane.AdminUser,
			wantGroups: []string{"system:authenticated", "system:masters"},
		}, {
			name:       "client certificate",
			cfg:        c.ConfigForUser(t, "alice", "team-a"),
			wantUser:   "alice",
			wantGroups: []string{"system:authenticated", "team-a"},
		}, {
			name:       "static token",
			cfg:        c.ConfigForToken(token),
			wantUser:   "token-user",
			wantGroups: []string{"system:authenticated", "token-group"},
		}, {
			name:     "ServiceAccount",
			cfg:      c.ConfigForServiceAccount(t, metav1.NamespaceDefault, "robot"),
			wantUser: "system:serviceaccount:default:robot",
			wantGroups: []string{"system:authenticated", "system:serviceaccounts",
				"system:serviceaccounts:default"},
		}}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				user, groups := whoAmI(t, tc.cfg)
				if diff := cmp.Diff(tc.wantUser, user); diff != "" {
					t.Errorf("user name (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantGroups, groups); diff != "" {
					t.Errorf("groups (-want +got):\n%s", diff)
				}
			})
		}
	})
	t.Run("RBAC limits a user to what is bound", func(t *testing.T) {
		testRBAC(t, c)
	})
	// Last: it takes the API server away.
	t.Run("API server restarts with its data", func(t *testing.T) {
		testAPIServerRestart(t, c)
	})
}

func testDualStackService(t *testing.T, c *controlplane.Cluster) {
	policy := corev1.IPFamilyPolicyRequireDualStack
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dual"},
		Spec: corev1.ServiceSpec{
			IPFamilyPolicy: &policy,
			Selector:       map[string]string{"app": "dual"},
			Ports:          []corev1.ServicePort{{Port: 80}},
		},
	}
	got, err := c.Client.CoreV1().Services(metav1.NamespaceDefault).Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create dual-stack Service: %v", err)
	}
	if len(got.Spec.ClusterIPs) != 2 {
		t.Fatalf("ClusterIPs = %v, want one per family", got.Spec.ClusterIPs)
	}
	for i, s := range got.Spec.ClusterIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil || !c.ServiceCIDRs[i].Contains(ip) {
			t.Errorf("ClusterIPs[%d] = %q, want an address in %s", i, s, c.ServiceCIDRs[i])
		}
	}
}

func testRBAC(t *testing.T, c *controlplane.Cluster) {
	ctx := t.Context()
	bob, err := kubernetes.NewForConfig(c.ConfigForUser(t, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.CoreV1().Services(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("bob lists Services before any binding: err = %v, want Forbidden", err)
	}

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "service-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list"},
		}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-reads-services"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}
	if _, err := c.Client.RbacV1().Roles(metav1.NamespaceDefault).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings(metav1.NamespaceDefault).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// RBAC decisions come from the API server's informer caches, so the new
	// binding takes effect shortly after it is written, not at once.
	if err := pollUntil(ctx, func(ctx context.Context) (bool, error) {
		_, err := bob.CoreV1().Services(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("bob still cannot list Services after the binding: %v", err)
	}
	err = bob.CoreV1().Services(metav1.NamespaceDefault).Delete(ctx, "kubernetes", metav1.DeleteOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("bob deletes a Service with a read-only role: err = %v, want Forbidden", err)
	}
}

func testAPIServerRestart(t *testing.T, c *controlplane.Cluster) {
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survives-restart"}, Data: map[string]string{"k": "v"}}
	if _, err := c.Client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.APIServer.Stop(); err != nil {
		t.Fatalf("stop API server: %v", err)
	}
	if c.APIServer.Running() {
		t.Fatal("API server still running after Stop")
	}
	if _, err := c.Client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
		t.Fatal("GET succeeded while the API server was stopped")
	}
	if err := c.APIServer.Start(ctx); err != nil {
		t.Fatalf("start API server again: %v", err)
	}
	got, err := c.Client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("GET after restart with the same client: %v", err)
	}
	if diff := cmp.Diff(cm.Data, got.Data); diff != "" {
		t.Errorf("ConfigMap data after restart (-want +got):\n%s", diff)
	}
}

// whoAmI asks the API server who cfg authenticates as.
func whoAmI(t *testing.T, cfg *rest.Config) (user string, groups []string) {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	groups = slices.Clone(r.Status.UserInfo.Groups)
	slices.Sort(groups)
	return r.Status.UserInfo.Username, groups
}
