//go:build integration

package charttest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/speaker/agent"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// The repository root, whose main module builds the binaries.
const repoRoot = "../../.."

// buildBinary builds one of the repository's commands into dir.
func buildBinary(t *testing.T, dir, cmd string) string {
	t.Helper()
	out := filepath.Join(dir, cmd)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", out, "./cmd/"+cmd)
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", cmd, err, b)
	}
	return out
}

const metricsReaderToken = "frontdesk-chart-test-metrics"

// cleanupFinalizer is the service controller's finalizer (cloud-provider's name).
const cleanupFinalizer = "service.kubernetes.io/load-balancer-cleanup"

// TestComponentsRunWithChartRBAC runs the real frontdesk-controller with the arguments the chart
// renders, authenticated as the chart's ServiceAccount and authorised only by the chart's RBAC:
// it must elect itself through the Lease the Role names, initialise a Node, give a LoadBalancer
// Service an address from a pool created from values, serve /healthz, serve /metrics to a reader
// allowed by RBAC (delegated authentication and authorisation) and refuse an anonymous one, and
// never be refused anything by the API server. Then the speaker's loop (speaker/agent.NewLoop
// with layer 2, in process, with fake announcer and liveness so that nothing touches the host's
// network) runs as the chart's speaker ServiceAccount: it must publish itself as the address's
// announcer in the IPAllocation status and send its AnnouncingNode Event.
func TestComponentsRunWithChartRBAC(t *testing.T) {
	bin := buildBinary(t, t.TempDir(), "frontdesk-controller")
	c := controlplane.Start(t, controlplane.WithToken(metricsReaderToken, "metrics-reader"))
	_, a := startClusterOn(t, c)
	ctx := t.Context()

	objs := render(t, valueSetNamed(t, "baremetal"))
	createRBAC(t, a, objs)
	for _, o := range []*unstructured.Unstructured{mustFind(t, objs, "IPPool", "lan"), mustFind(t, objs, "L2Advertisement", "lan")} {
		if err := a.apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
	}
	grantMetricsReader(t, c)

	kubeconfig, err := c.WriteKubeconfig("frontdesk-controller", c.ConfigForServiceAccount(t, releaseNS, controllerSA))
	if err != nil {
		t.Fatal(err)
	}
	port := controlplane.FreePort(t)
	args := append(slices.Clone(controllerOf(t, objs).Spec.Template.Spec.Containers[0].Args),
		// Outside a Pod: the kubeconfig stands for the in-cluster config, also for the secure
		// port's delegated authentication and authorisation; a free loopback port for the rendered one.
		"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port))
	// test/proc stops it at cleanup (SIGTERM, then SIGKILL) and prints its log's end if the test failed.
	controllerLog := proc.Start(t, "", "frontdesk-controller", exec.Command(bin, args...)).Log

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1",
		Annotations: map[string]string{"alpha.kubernetes.io/provided-node-ip": "198.18.0.11"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule}}}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createNamespace(t, c, userNS, nil)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: userNS},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := c.Client.CoreV1().Services(userNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	poll := func(what string, cond func(context.Context) (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll("the controller holds its Lease", func(ctx context.Context) (bool, error) {
		l, err := c.Client.CoordinationV1().Leases(releaseNS).Get(ctx, leaseName, metav1.GetOptions{})
		return err == nil && holder(l) != "", nil
	})
	var ingress string
	poll("web gets an address from the pool lan", func(ctx context.Context) (bool, error) {
		s, err := c.Client.CoreV1().Services(userNS).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return false, nil //nolint:nilerr // keep polling
		}
		ingress = s.Status.LoadBalancer.Ingress[0].IP
		return true, nil
	})
	if !strings.HasPrefix(ingress, "198.51.100.") {
		t.Errorf("web got %s; want an address of 198.51.100.0/24", ingress)
	}
	// The finalizer too went through services/status: the ServiceAccount may not write Services.
	if s, err := c.Client.CoreV1().Services(userNS).Get(ctx, "web", metav1.GetOptions{}); err != nil || !slices.Contains(s.Finalizers, cleanupFinalizer) {
		t.Errorf("web lacks the finalizer %s (err %v)", cleanupFinalizer, err)
	}
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(mustAddr(t, ingress)), metav1.GetOptions{}); err != nil {
		t.Errorf("no IPAllocation for %s: %v", ingress, err)
	}
	poll("the pool's status counts the address", func(ctx context.Context) (bool, error) {
		p, err := api.IPPools().Get(ctx, "lan", metav1.GetOptions{})
		return err == nil && p.Status.AssignedIPv4 == 1, nil
	})
	var last *corev1.Node
	poll("node-1 is initialised", func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		last = n
		return n.Spec.ProviderID == "baremetal://node-1" && !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == "node.cloudprovider.kubernetes.io/uninitialized"
		}), nil
	})
	t.Logf("node-1: providerID %s, taints %v", last.Spec.ProviderID, last.Spec.Taints)
	poll("an EnsuredLoadBalancer Event on web", func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(userNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		for _, e := range evs.Items {
			if e.Reason == "EnsuredLoadBalancer" && e.InvolvedObject.Name == "web" {
				return true, nil
			}
		}
		return false, nil
	})

	hc := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed, loopback
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", port, path), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz without credentials (the probe): %d %s", code, body)
	}
	if code, body := get("/metrics", metricsReaderToken); code != http.StatusOK || !strings.Contains(body, "frontdesk_") {
		t.Errorf("/metrics as a reader: %d, frontdesk metrics present: %v", code, strings.Contains(body, "frontdesk_"))
	}
	if code, _ := get("/metrics", ""); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("/metrics anonymously: %d; want 401 or 403", code)
	}

	runSpeaker(t, c, "node-1", mustAddr(t, ingress))

	// Everything above worked; nothing on the way may have been refused either (a refused list
	// or watch is retried quietly, a refused Event is dropped).
	logs, err := os.ReadFile(controllerLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(logs), "\n") {
		if strings.Contains(l, "forbidden") || strings.Contains(l, "Forbidden") {
			t.Errorf("the API server refused the controller something: %s", l)
		}
	}
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// grantMetricsReader lets the user metrics-reader get /metrics, as a Prometheus would be.
func grantMetricsReader(t *testing.T, c *controlplane.Cluster) {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "metrics-reader"}}}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("%q is not an address: %v", s, err)
	}
	return a
}

// announceAll announces every address it is given on eth0, without touching any interface.
type announceAll struct{}

func (announceAll) SetVIPs(v map[netip.Addr]announce.Announcement) (map[netip.Addr]l2.VIPStatus, error) {
	out := make(map[netip.Addr]l2.VIPStatus, len(v))
	for a := range v {
		out[a] = l2.VIPStatus{Interfaces: []string{"eth0"}}
	}
	return out, nil
}

func (announceAll) Reannounce(...netip.Addr) error { return nil }

// alone is the liveness of a one-node cluster.
type alone struct {
	node    string
	changes chan struct{}
}

func (a alone) Alive() map[string]bool                 { return map[string]bool{a.node: true} }
func (alone) HasQuorum() bool                          { return true }
func (a alone) Changes() <-chan struct{}               { return a.changes }
func (alone) SetPeers(map[string]netip.AddrPort) error { return nil }

// runSpeaker runs the speaker's loop for node as the chart's speaker ServiceAccount and waits for
// it to publish itself as vip's announcer.
func runSpeaker(t *testing.T, c *controlplane.Cluster, node string, vip netip.Addr) {
	t.Helper()
	ctx := t.Context()
	// The election only counts Ready nodes; there is no kubelet here to say so.
	n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := c.ConfigForServiceAccount(t, releaseNS, speakerSA)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api, err := client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runLoop(runCtx, kube, agent.LoopConfig{
			Config: loop.Config{NodeName: node, API: api, Membership: alone{node, make(chan struct{})},
				Informers: loop.NewInformers(kube, api, time.Minute)},
			L2: &l2mode.Config{NodeName: node, Announcer: announceAll{}},
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("speaker loop: %v", err)
		}
	})
	admin, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		a, err := admin.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		last = fmt.Sprintf("%+v", a.Status)
		return len(a.Status.Announcers) == 1 && a.Status.Announcers[0].Node == node, nil
	})
	if err != nil {
		t.Fatalf("the speaker (as %s) did not publish itself as %s's announcer: %v; status: %s", speakerSA, vip, err, last)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(userNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		return slices.ContainsFunc(evs.Items, func(e corev1.Event) bool {
			return e.Reason == l2mode.ReasonAnnouncingNode && e.Source.Component == loop.Component
		}), nil
	})
	if err != nil {
		t.Errorf("no %s Event from the speaker (as %s): %v", l2mode.ReasonAnnouncingNode, speakerSA, err)
	}
}

// runLoop records the Events over kube, starts cfg's informers and runs the loop agent.NewLoop
// builds from cfg until ctx ends, then stops it and the informers: the speaker process's start and
// shutdown for layer 2 alone, which withdraws nothing on the way out.
func runLoop(ctx context.Context, kube kubernetes.Interface, cfg agent.LoopConfig) error {
	events, rec := loop.NewEventRecorder(context.WithoutCancel(ctx), kube, cfg.NodeName)
	defer events.Shutdown()
	cfg.Events = rec
	l, _, err := agent.NewLoop(cfg)
	if err != nil {
		return err
	}
	cfg.Informers.Start(ctx)
	defer cfg.Informers.Shutdown()
	return l.Run(ctx)
}
