//go:build netns && integration

package lab

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// testKubectlPlugin runs `kubectl frontdesk` as a user of the lab would, through the lab's
// kubectl (which finds the plugin on its PATH): status names hello-svc's address, its pool, the
// announcing node and the condition; pools shows the lab's pool. Then as a user holding only
// Kubernetes' view role, which the chart's aggregated role extends: the same answer.
func testKubectlPlugin(t *testing.T, l *lab, vip netip.Addr, node string) {
	status := l.kubectl(t, "frontdesk", "status", "-A")
	var line string
	for _, ln := range strings.Split(status, "\n") {
		if strings.Contains(ln, " hello-svc ") {
			line = ln
		}
	}
	for _, want := range []string{vip.String(), " lan ", node + " (L2)", " True ", "Announced"} {
		if !strings.Contains(line, want) {
			t.Errorf("kubectl frontdesk status -A: hello-svc's line %q lacks %q\n%s", line, want, status)
		}
	}
	if pools := l.kubectl(t, "frontdesk", "pools"); !strings.Contains(pools, "lan ") || !strings.Contains(pools, "IPv4") {
		t.Errorf("kubectl frontdesk pools does not show the pool lan:\n%s", pools)
	}
	why := l.kubectl(t, "frontdesk", "why", "hello-svc")
	if !strings.Contains(why, "all checks pass") || !strings.Contains(why, vip.String()+" → "+node+" (L2)") {
		t.Errorf("kubectl frontdesk why hello-svc:\n%s", why)
	}
	// A Service whose selector matches no Pod: why names that step first.
	l.kubectlApply(t, `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "why-no-pods", "namespace": "default"},
 "spec": {"type": "LoadBalancer", "selector": {"app": "nothing-here"}, "ports": [{"port": 80}]}}`)
	t.Cleanup(func() { _ = exec.Command(l.o.Kubectl(), "delete", "service", "why-no-pods", "--wait=false").Run() })
	if why := l.kubectl(t, "frontdesk", "why", "why-no-pods"); !strings.HasPrefix(why, "step selector fails") {
		t.Errorf("kubectl frontdesk why why-no-pods, want the selector step:\n%s", why)
	}

	// A viewer: a ServiceAccount bound to view only, with a kubeconfig of its own: the lab's API
	// server and CA, the ServiceAccount's token.
	ctx := t.Context()
	admin, err := clientcmd.BuildConfigFromFlags("", l.o.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	viewer := rest.AnonymousClientConfig(admin)
	viewer.BearerToken = l.serviceAccountToken(t, "frontdesk-test-viewer", "view")
	path := filepath.Join(t.TempDir(), "viewer.kubeconfig")
	if err := controlplane.WriteKubeconfigFile(path, "viewer", viewer); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(l.o.Dir, "bin", "kubectl-frontdesk")
	if _, err := os.Stat(plugin); err != nil {
		t.Fatal(err)
	}
	// The view role learns the chart's rules from the controller manager's aggregation.
	var got string
	eventually(t, 30*time.Second, "kubectl frontdesk status -A as a viewer", func() (bool, string) {
		argv := netns.Enter(l.plan.NS(topology.RoleControlPlane), plugin, "--kubeconfig="+path, "status", "-A")
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		got = string(out)
		return err == nil, got
	})
	if again := l.kubectl(t, "frontdesk", "status", "-A"); got != again {
		t.Errorf("a viewer sees\n%s\nan admin\n%s", got, again)
	}
}
