//go:build netns && integration

package proxybench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/test/nftwatch"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// The test LAN: two node namespaces (one per proxy) and two endpoint namespaces on a bridge.
// Each endpoint namespace answers for a whole /16 (a local route on lo), so that every Service
// gets endpoints of its own, as Pods would: Service i's endpoints are epAddr(0, i) and
// epAddr(1, i), listened on at epPort by one socket per namespace.
const (
	lanIface    = "eth0"
	servicePort = 80
	epPort      = 8080
	clusterCIDR = "10.244.0.0/14" // covers both endpoint ranges
	serviceCIDR = "10.96.0.0/16"  // lab/controlplane's default
)

var epRanges = [2]netip.Prefix{netip.MustParsePrefix("10.245.0.0/16"), netip.MustParsePrefix("10.246.0.0/16")}

func lanAddr(host byte) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 250, 0, host}), 24)
}

// epAddr is Service i's endpoint in endpoint namespace side (0 or 1); host part i+1, never .0.0.
func epAddr(side, i int) netip.Addr {
	b := epRanges[side].Addr().As4()
	n := i + 1
	b[2], b[3] = byte(n>>8), byte(n)
	return netip.AddrFrom4(b)
}

// node is one node namespace with its proxy.
type node struct {
	name    string // Node object name
	ns      *netnstest.NS
	table   string // the proxy's nftables table in the ip and ip6 families
	healthz string // URL inside ns
	metrics string // URL inside ns
	mon     *nftwatch.Watcher
	newCmd  func() *proc.Proc // starts the proxy
	proxy   *proc.Proc
}

type env struct {
	t      testing.TB
	c      *controlplane.Cluster
	kube   kubernetes.Interface
	logDir string
	nodes  []*node // frontdesk first, then kube-proxy
	// clusterIPs[i] is Service i's ClusterIP (Services with endpoints, created by createServices).
	mu         sync.Mutex
	clusterIPs []netip.Addr
}

const (
	frontdesk = 0
	kubeProxy = 1
)

var proxyNames = [2]string{"frontdesk", "kube-proxy"}

func newEnv(t testing.TB) *env {
	t.Helper()
	netnstest.RequireRoot(t, "nft", "stdbuf")
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	kp := filepath.Join(bin, "kube-proxy")
	if _, err := os.Stat(kp); err != nil {
		t.Fatalf("kube-proxy is missing from %s (run: make k8s-tools): %v", bin, err)
	}
	ours := filepath.Join(proc.Build(t, "./cmd/frontdesk-proxy"), "frontdesk-proxy")
	e := &env{t: t, logDir: t.TempDir()}
	e.c = controlplane.Start(t)
	rc := *e.c.Config
	rc.QPS, rc.Burst = 500, 1000
	if e.kube, err = kubernetes.NewForConfig(&rc); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := u.Host

	id := netnstest.RunID(t)
	br := netnstest.NewBridge(t, id, "br")
	for side := range epRanges {
		ep := netnstest.New(t, id, fmt.Sprintf("ep%d", side+1))
		br.Attach(ep, lanIface, "", lanAddr(byte(11+side)))
		ep.IP("route", "add", "local", epRanges[side].String(), "dev", "lo")
		l, err := ep.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", epPort))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go acceptAndClose(l)
	}
	kc := e.c.KubeconfigPath
	for i, name := range proxyNames {
		n := &node{name: "node-" + name, ns: netnstest.New(t, id, name[:2])}
		br.Attach(n.ns, lanIface, "", lanAddr(byte(1+i)))
		for side, r := range epRanges {
			n.ns.IP("route", "add", r.String(), "via", lanAddr(byte(11+side)).Addr().String())
		}
		// A connect needs a route before the output hook DNATs it; a real node has a default
		// route. This one points into the test LAN only.
		n.ns.IP("route", "add", serviceCIDR, "via", lanAddr(11).Addr().String())
		netnstest.ForwardLoopback(t, n.ns, apiAddr)
		e.createNode(n.name, lanAddr(byte(1+i)).Addr())
		switch i {
		case frontdesk:
			n.table, n.healthz, n.metrics = "frontdesk", "http://127.0.0.1:10256/healthz", "http://127.0.0.1:10249/metrics"
			n.newCmd = func() *proc.Proc {
				return proc.Start(t, e.logDir, name, n.ns.Command(ours, "--kubeconfig="+kc, "--hostname-override="+n.name,
					"--cluster-cidr="+clusterCIDR))
			}
		case kubeProxy:
			// Everything that would write a sysctl outside the namespace's own net.* is off
			// (conntrack limits and timeouts); the sync periods are kube-proxy's defaults.
			n.table, n.healthz, n.metrics = "kube-proxy", "http://127.0.0.1:10256/healthz", "http://127.0.0.1:10249/metrics"
			n.newCmd = func() *proc.Proc {
				return proc.Start(t, e.logDir, name, n.ns.Command(kp, "--proxy-mode=nftables", "--kubeconfig="+kc,
					"--hostname-override="+n.name, "--cluster-cidr="+clusterCIDR,
					"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
					"--conntrack-tcp-timeout-close-wait=0",
					"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256", "--v=1"))
			}
		}
		ns := n.ns
		mon, err := nftwatch.Start(context.Background(), func(_ context.Context, name string, args ...string) *exec.Cmd {
			return ns.Command(name, args...)
		}, n.table)
		if err != nil {
			t.Fatalf("watching %s's service-ips: %v", n.name, err)
		}
		t.Cleanup(mon.Stop)
		n.mon = mon
		e.nodes = append(e.nodes, n)
	}
	return e
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed by the cleanup
		}
		_ = c.Close()
	}
}

func (e *env) createNode(name string, ip netip.Addr) {
	e.t.Helper()
	ctx := context.Background()
	n, err := e.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{corev1.LabelHostname: name}}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()},
			{Type: corev1.NodeHostName, Address: name}},
	}
	if _, err := e.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// healthy asks n's proxy for /healthz from inside its namespace.
func (n *node) healthy(ctx context.Context) bool {
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return n.ns.Dial(ctx, network, addr)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.healthz, nil)
	if err != nil {
		return false
	}
	resp, err := cl.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitHealthy polls /healthz every 50 ms and returns when it first answered 200.
func (n *node) waitHealthy(ctx context.Context) (time.Time, error) {
	for {
		if n.healthy(ctx) {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s's /healthz never answered 200: %w", n.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// countElements lists service-ips once (after a wait, to confirm what the monitor saw). A map
// not made yet holds none: kube-proxy answers /healthz 200 before it has written its table.
func (n *node) countElements() (int, error) {
	out, err := n.ns.Command("nft", "list", "map", "ip", n.table, "service-ips").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file or directory") {
			return 0, nil
		}
		return 0, fmt.Errorf("nft list map in %s: %w: %s", n.ns.Name, err, out)
	}
	return strings.Count(string(out), " : goto "), nil
}

// syncTotals reads the proxy's own sync-duration histogram (sum of seconds, count) from its
// /metrics inside the namespace: frontdesk_proxy_sync_duration_seconds (every kind) or
// kubeproxy_sync_proxy_rules_duration_seconds. Only used to explain the timings from outside.
func (n *node) syncTotals(ctx context.Context) (sum, count float64, err error) {
	metric := map[string]string{"frontdesk": "frontdesk_proxy_sync_duration_seconds",
		"kube-proxy": "kubeproxy_sync_proxy_rules_duration_seconds"}[n.table]
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return n.ns.Dial(ctx, network, addr)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.metrics, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, perr := strconv.ParseFloat(f[1], 64)
		if perr != nil {
			continue
		}
		switch name {
		case metric + "_sum":
			sum += v
			found = true
		case metric + "_count":
			count += v
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("%s: no %s in %s", n.name, metric, n.metrics)
	}
	return sum, count, nil
}
