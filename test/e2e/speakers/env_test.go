//go:build netns && integration

package speakers

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// The L2 test LAN: three nodes and a client on one bridge. The pool's addresses are routed to lo
// in every node (a local route, no address on an interface), standing in for the node proxy: a
// packet for a VIP reaching a node is delivered to that node's responder. arp_ignore=1 keeps the
// node kernels from answering ARP for them, so only the speakers do.
var (
	poolRange = "198.18.0.100-198.18.0.110"
	poolRoute = "198.18.0.96/28"
	clientIP  = netip.MustParsePrefix("198.18.0.10/24")
)

const (
	nodeCount    = 3
	lanIface     = "eth0"
	responderUDP = 9000
)

func nodeName(i int) string { return fmt.Sprintf("node-%d", i+1) }
func nodeMAC(i int) string  { return fmt.Sprintf("02:fd:00:00:00:%02x", i+1) }
func nodeAddr(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), 24)
}

// env is a running L2 environment: control plane, frontdesk-controller and one speaker process
// per node namespace.
type env struct {
	t        testing.TB
	c        *controlplane.Cluster
	kube     kubernetes.Interface
	api      client.Interface
	nodes    []*netnstest.NS
	client   *netnstest.NS
	speakers []*proc.Proc
	bins     string
	keyFile  string
	// flags are added to every speaker's command line (newEnv's).
	flags  []string
	bridge *netnstest.Bridge
	// speakerArgs, when set, gives node i's speaker its liveness key flags instead of keyFile.
	speakerArgs func(i int) []string
}

// newEnv starts the control plane, the controller and a speaker in every node namespace, each
// with speakerFlags added to its command line.
func newEnv(t testing.TB, speakerFlags ...string) *env { return newEnvWith(t, nil, speakerFlags...) }

// newEnvWith is newEnv with node i's speaker given speakerArgs(i) as its key flags.
func newEnvWith(t testing.TB, speakerArgs func(i int) []string, speakerFlags ...string) *env {
	t.Helper()
	netnstest.RequireRoot(t, "curl")
	e := &env{t: t, bins: proc.Build(t, "./cmd/frontdesk-controller", "./cmd/frontdesk-speaker"),
		flags: speakerFlags, speakerArgs: speakerArgs}
	e.c = controlplane.Start(t)
	e.kube = e.c.Client
	var err error
	if e.api, err = client.NewForConfig(e.c.Config); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := crds.Install(ctx, e.c.Config); err != nil {
		t.Fatal(err)
	}
	apiAddr := hostPort(t, e.c.Config.Host)

	id := netnstest.RunID(t)
	br := netnstest.NewBridge(t, id, "br")
	e.bridge = br
	for i := range nodeCount {
		n := netnstest.New(t, id, fmt.Sprintf("n%d", i+1))
		n.Sysctl("net.ipv4.conf.all.arp_ignore", "1")
		br.Attach(n, lanIface, nodeMAC(i), nodeAddr(i))
		n.IP("route", "add", "local", poolRoute, "dev", "lo")
		netnstest.ForwardLoopback(t, n, apiAddr)
		e.nodes = append(e.nodes, n)
		e.createNode(ctx, i)
	}
	e.client = netnstest.New(t, id, "cl")
	br.Attach(e.client, lanIface, "02:fd:00:00:00:0c", clientIP)

	e.keyFile = filepath.Join(t.TempDir(), "liveness.key")
	if err := os.WriteFile(e.keyFile, []byte("frontdesk-e2e-liveness-key-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "lan"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{poolRange}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.L2Advertisements().Create(ctx, &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "lan"},
		Spec: v1alpha1.L2AdvertisementSpec{IPPools: []string{"lan"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.startController()
	for i := range nodeCount {
		e.speakers = append(e.speakers, e.startSpeaker(i))
	}
	return e
}

func (e *env) createNode(ctx context.Context, i int) {
	e.t.Helper()
	n, err := e.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i),
		Labels: map[string]string{corev1.LabelHostname: nodeName(i)}}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeAddr(i).Addr().String()},
			{Type: corev1.NodeHostName, Address: nodeName(i)}},
	}
	if _, err := e.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) startController() {
	e.t.Helper()
	kc := e.c.KubeconfigPath
	p := proc.Start(e.t, "", "controller", exec.Command(filepath.Join(e.bins, "frontdesk-controller"),
		"--cloud-provider=baremetal", "--kubeconfig="+kc, "--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc, "--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(controlplane.FreePort(e.t)), "--leader-elect=false", "--controllers=service", "--v=2"))
	e.t.Cleanup(func() { p.Stop(syscall.SIGKILL) })
}

// startSpeaker runs frontdesk-speaker inside node i's namespace; `ip netns exec` execs it, so
// the process is the speaker itself and signals reach it directly.
func (e *env) startSpeaker(i int) *proc.Proc {
	e.t.Helper()
	keys := []string{"--liveness-key-file=" + e.keyFile}
	if e.speakerArgs != nil {
		keys = e.speakerArgs(i)
	}
	args := append([]string{"--kubeconfig=" + e.c.KubeconfigPath, "--node-name=" + nodeName(i),
		"--metrics-bind-address=127.0.0.1:7472", "--v=2"}, keys...)
	p := proc.Start(e.t, "", "speaker-"+nodeName(i), e.nodes[i].Command(filepath.Join(e.bins, "frontdesk-speaker"),
		append(args, e.flags...)...))
	e.t.Cleanup(func() { p.Stop(syscall.SIGKILL) })
	return p
}

// createService makes a selector-less UDP LoadBalancer Service asking for vip, and waits for
// the controller to give it.
func (e *env) createService(ctx context.Context, name string, vip netip.Addr) {
	e.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
			Annotations: map[string]string{"frontdesk.dev/load-balancer-ips": vip.String()}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Name: "udp", Protocol: corev1.ProtocolUDP, Port: responderUDP}}},
	}
	if _, err := e.kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := e.kube.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ing := s.Status.LoadBalancer.Ingress
		return len(ing) == 1 && ing[0].IP == vip.String(), nil
	})
	if err != nil {
		e.t.Fatalf("Service %s did not get %v: %v", name, vip, err)
	}
}

// announcers reads the nodes that IPAllocation status says announce vip.
func (e *env) announcers(ctx context.Context, vip netip.Addr) []string {
	a, err := e.api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var nodes []string
	for _, an := range a.Status.Announcers {
		nodes = append(nodes, an.Node)
	}
	return nodes
}

func nodeIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "node-"))
	if err != nil {
		return -1
	}
	return i - 1
}

// hostPort turns the API server's URL into host:port.
func hostPort(t testing.TB, host string) string {
	t.Helper()
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		t.Fatalf("API server URL %q: %v", host, err)
	}
	return u.Host
}
