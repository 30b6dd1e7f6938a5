package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ports are the loopback ports the components listen on. They are picked once
// and kept across restarts, so configs handed out stay valid.
type ports struct {
	etcdClient, etcdPeer, apiServer, controllerManager, scheduler int
}

// freePort asks the kernel for a free loopback port. Another process may take
// it before the component binds it; startComponent retries on that.
func freePort() (int, error) { return freePortOn(loopback) }

// loopback is where every component but a WithBindAddress API server listens.
var loopback = netip.MustParseAddr("127.0.0.1")

// freePortOn asks the kernel for a free TCP port on addr.
func freePortOn(addr netip.Addr) (int, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", addr, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("release picked port %d: %w", port, err)
	}
	return port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// apiServerHostPort is where clients reach the API server: loopback, or the WithBindAddress address.
func (c *Cluster) apiServerHostPort() string {
	return netip.AddrPortFrom(c.opts.bindAddress, uint16(c.ports.apiServer)).String()
}

func (c *Cluster) etcdURL() string { return "http://" + hostPort(c.ports.etcdClient) }

func (c *Cluster) etcdArgs() []string {
	peer := "http://" + hostPort(c.ports.etcdPeer)
	args := []string{
		"--name=default",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + c.etcdURL(),
		"--advertise-client-urls=" + c.etcdURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		// The data dies with the test: durability buys nothing and fsync
		// is the slowest part of etcd on a shared disk.
		"--unsafe-no-fsync=true",
	}
	return append(args, c.opts.extraArgs[binEtcd]...)
}

func (c *Cluster) apiServerArgs() []string {
	cidrs := make([]string, len(c.ServiceCIDRs))
	for i, p := range c.ServiceCIDRs {
		cidrs[i] = p.String()
	}
	bind := c.opts.bindAddress.String()
	args := []string{
		"--etcd-servers=" + c.etcdURL(),
		"--bind-address=" + bind,
		"--advertise-address=" + bind,
	}
	if c.opts.bindAddress.IsLoopback() {
		// kube-apiserver publishes its advertise address as the endpoint of
		// the "kubernetes" Service and refuses a loopback one for that.
		// Without the reconciler it would take the host's address instead,
		// which is neither reachable on loopback nor present on every
		// machine; nothing runs in Pods here to use that Service anyway.
		// With WithBindAddress (a lab network) the endpoint is real.
		args = append(args, "--endpoint-reconciler-type=none")
	}
	args = append(args,
		"--secure-port="+strconv.Itoa(c.ports.apiServer),
		// Unused with --tls-cert-file, but its default is /var/run/kubernetes,
		// which is not ours to write.
		"--cert-dir="+filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file="+c.pki.servingCertFile,
		"--tls-private-key-file="+c.pki.servingKeyFile,
		"--client-ca-file="+c.pki.caFile,
		// The front-proxy (request-header) settings kubeadm uses. Without them
		// kube-controller-manager and kube-scheduler, which delegate
		// authentication to the API server, log an error every few
		// seconds; with them, aggregated API servers work too.
		"--requestheader-client-ca-file="+c.pki.frontProxyCAFile,
		"--requestheader-allowed-names="+frontProxyClient,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+c.pki.frontProxyCertFile,
		"--proxy-client-key-file="+c.pki.frontProxyKeyFile,
		"--token-auth-file="+c.tokenFile,
	)
	if c.opts.nodeAuthorization {
		args = append(args, c.nodeAuthorizationArgs()...)
	} else {
		args = append(args, "--authorization-mode=RBAC")
	}
	args = append(args,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.saPubFile,
		"--service-account-signing-key-file="+c.pki.saKeyFile,
		"--service-cluster-ip-range="+strings.Join(cidrs, ","),
		fmt.Sprintf("--service-node-port-range=%d-%d", NodePortMin, NodePortMax),
		"--allow-privileged=true",
		"--profiling=false",
	)
	return append(args, c.opts.extraArgs[binAPIServer]...)
}

func (c *Cluster) controllerManagerArgs() []string {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--authentication-kubeconfig=" + c.KubeconfigPath,
		"--authorization-kubeconfig=" + c.KubeconfigPath,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.controllerManager),
		"--cert-dir=" + filepath.Join(c.Dir, "kcm-certs"),
		"--leader-elect=false",
		"--controllers=" + strings.Join(c.opts.controllers, ","),
		"--service-account-private-key-file=" + c.pki.saKeyFile,
		"--root-ca-file=" + c.pki.caFile,
		"--profiling=false",
	}
	return append(args, c.opts.extraArgs[binControllerManager]...)
}

func (c *Cluster) schedulerArgs() []string {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--authentication-kubeconfig=" + c.KubeconfigPath,
		"--authorization-kubeconfig=" + c.KubeconfigPath,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.scheduler),
		"--cert-dir=" + filepath.Join(c.Dir, "scheduler-certs"),
		"--leader-elect=false",
		"--profiling=false",
	}
	return append(args, c.opts.extraArgs[binScheduler]...)
}

// etcdReady checks etcd's /health, which is true once it has a leader.
func (c *Cluster) etcdReady(ctx context.Context) error {
	body, err := get(ctx, c.probeClient, c.etcdURL()+"/health")
	if err != nil {
		return err
	}
	if !strings.Contains(body, `"health":"true"`) {
		return fmt.Errorf("etcd /health: %s", body)
	}
	return nil
}

// apiServerReady checks /readyz, then that the "default" namespace exists:
// /readyz can pass before the API server's own controller has created it, and
// nearly every test writes there first.
func (c *Cluster) apiServerReady(ctx context.Context) error {
	if _, err := get(ctx, c.adminHTTP, c.Config.Host+"/readyz"); err != nil {
		return err
	}
	_, err := c.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
	return err
}

// controllerManagerReady checks kube-controller-manager's /healthz (on its
// self-signed secure port, which /healthz may use without credentials), then,
// when the serviceaccount controller runs, that the default ServiceAccount
// exists: until then the ServiceAccount admission plugin refuses every Pod in
// the namespace, and the replicaset controller backs off.
func (c *Cluster) controllerManagerReady(ctx context.Context) error {
	if _, err := get(ctx, c.probeClient, "https://"+hostPort(c.ports.controllerManager)+"/healthz"); err != nil {
		return err
	}
	if !c.runsController("serviceaccount-controller", "serviceaccount") {
		return nil
	}
	_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errors.New("ServiceAccount default/default not created yet")
	}
	return err
}

// schedulerReady checks kube-scheduler's /readyz, which, unlike /healthz,
// waits for its informers and event handlers to sync.
func (c *Cluster) schedulerReady(ctx context.Context) error {
	_, err := get(ctx, c.probeClient, "https://"+hostPort(c.ports.scheduler)+"/readyz")
	return err
}

func (c *Cluster) runsController(names ...string) bool {
	for _, have := range c.opts.controllers {
		for _, n := range names {
			if have == n || have == "*" {
				return true
			}
		}
	}
	return false
}

// newProbeClient returns the client for the health endpoints of etcd (plain
// HTTP) and of kube-controller-manager and kube-scheduler, whose serving
// certificates are self-signed at startup: nothing to verify them against,
// and the connection never leaves loopback.
func newProbeClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe of a self-signed server
	}}
}

// get returns the body of a 200 response, or an error with the status and body.
func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// FreePort returns a free loopback port for a process a test starts beside the control plane (a
// controller's secure port, say), failing the test if none can be had. The same race as freePort
// applies: start the process soon after.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
