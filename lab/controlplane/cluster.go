package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// LogDirEnv names the environment variable that makes component logs outlive
// the test: each cluster writes them to a new folder inside it (useful in CI,
// to keep them as artifacts). Without it, logs are removed after a passing
// test and kept, with their path printed, after a failing one.
const LogDirEnv = "FRONTDESK_CLUSTER_LOGS"

// logTailLines is how much of each component's log a failing test prints.
const logTailLines = 60

// Cluster is a running control plane: etcd and kube-apiserver, and optionally
// kube-controller-manager and kube-scheduler, on loopback ports, owned by one
// test. There are no nodes and no kubelet: Pods are created but never run.
type Cluster struct {
	// Config is a cluster-admin config (client certificate in group
	// system:masters). Copy it before changing it (rest.CopyConfig).
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
	// KubeconfigPath is a kubeconfig file with the same credentials as Config.
	KubeconfigPath string
	// BinDir is where the binaries were taken from.
	BinDir string
	// Dir is the cluster's working directory (certificates, etcd data,
	// kubeconfigs). It is removed when the test ends.
	Dir string
	// LogDir holds one <component>.log per component.
	LogDir string
	// ServiceCIDRs are the Service IP ranges, the primary family first.
	ServiceCIDRs []netip.Prefix

	// The components; ControllerManager and Scheduler are nil unless asked
	// for. Stop, Start and Restart them to simulate outages.
	Etcd              *Component
	APIServer         *Component
	ControllerManager *Component
	Scheduler         *Component

	opts        options
	pki         *pki
	ports       ports
	tokenFile   string
	adminHTTP   *http.Client
	probeClient *http.Client
	stopOnce    sync.Once
}

// Start starts a control plane for t and returns when every component is
// ready. It fails t, with the reason and the end of the failing component's
// log, if a binary is missing or a component does not become ready. Everything
// is stopped and removed when t ends, whether it passed, failed or panicked;
// when it failed, the end of each component's log is printed.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	began := time.Now()
	c, err := startForTest(t, o)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	t.Logf("cluster: %s ready in %s (API server %s)", strings.Join(c.componentNames(), ", "),
		time.Since(began).Round(10*time.Millisecond), c.Config.Host)
	return c
}

// New starts a control plane outside a test, for a program that runs one for
// longer (the lab). Unlike Start it registers no cleanup: the caller must call
// Close. With WithWorkDir, the files go there and stay; without it, a
// temporary directory is used and Close removes it (the logs stay, in
// Cluster.LogDir). On error, whatever started is stopped.
func New(opts ...Option) (*Cluster, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	binDir, bins, err := findBinaries(o)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	var dir, logDir string
	if o.workDir != "" {
		dir, logDir = o.workDir, filepath.Join(o.workDir, "logs")
		for _, d := range []string{dir, logDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, fmt.Errorf("cluster: %w", err)
			}
		}
	} else {
		if dir, err = newWorkDir(); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		if logDir, err = os.MkdirTemp("", "frontdesk-cluster-logs-"); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	var c *Cluster
	c, err = start(o, binDir, bins, dir, logDir, func(*Cluster) {})
	if err != nil {
		if c != nil {
			c.Stop()
		}
		if o.workDir == "" {
			_ = os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return c, nil
}

// Close stops every component and removes the working directory unless it
// was given with WithWorkDir. For clusters made by New.
func (c *Cluster) Close() error {
	c.Stop()
	if c.opts.workDir != "" {
		return nil
	}
	return os.RemoveAll(c.Dir)
}

// findBinaries returns the binaries o needs, or an error naming the missing ones.
func findBinaries(o options) (string, map[string]string, error) {
	binDir, err := BinDir()
	if err != nil {
		return "", nil, fmt.Errorf("%w; %s", err, buildHint)
	}
	need := []string{binEtcd, binAPIServer}
	if o.controllers != nil {
		need = append(need, binControllerManager)
	}
	if o.scheduler {
		need = append(need, binScheduler)
	}
	bins, err := checkBinaries(binDir, need...)
	return binDir, bins, err
}

func startForTest(t testing.TB, o options) (*Cluster, error) {
	binDir, bins, err := findBinaries(o)
	if err != nil {
		return nil, err
	}
	dir, err := newWorkDir()
	if err != nil {
		return nil, err
	}
	logDir, keepLogs, err := makeLogDir(t.Name())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// Registered before the first process starts, so a failure anywhere
	// below still stops what did start.
	return start(o, binDir, bins, dir, logDir, func(c *Cluster) { t.Cleanup(func() { c.cleanup(t, keepLogs) }) })
}

// start starts the components; created is called with the Cluster before the
// first process starts, so that a failure part way can be cleaned up. The
// returned Cluster is non-nil once created has been called, even with an error.
func start(o options, binDir string, bins map[string]string, dir, logDir string, created func(*Cluster)) (*Cluster, error) {
	var err error
	c := &Cluster{
		BinDir:       binDir,
		Dir:          dir,
		LogDir:       logDir,
		ServiceCIDRs: o.serviceCIDRs,
		opts:         o,
		tokenFile:    filepath.Join(dir, "tokens.csv"),
		probeClient:  newProbeClient(),
	}
	created(c)

	if c.pki, err = newPKI(dir, servingIPs(o)); err != nil {
		return c, err
	}
	if err := writeTokenFile(c.tokenFile, o.tokens); err != nil {
		return c, err
	}
	if o.nodeAuthorization {
		if err := c.pki.writeKubeletClientCert(dir); err != nil {
			return c, err
		}
	}
	ctx := context.Background()

	c.Etcd = c.newComponent(binEtcd, bins, c.etcdArgs, c.etcdReady)
	if err := startComponent(ctx, c.Etcd, func() (err error) {
		if c.ports.etcdClient, err = freePort(); err != nil {
			return err
		}
		c.ports.etcdPeer, err = freePort()
		return err
	}); err != nil {
		return c, err
	}

	c.APIServer = c.newComponent(binAPIServer, bins, c.apiServerArgs, c.apiServerReady)
	if err := startComponent(ctx, c.APIServer, func() (err error) {
		if c.ports.apiServer, err = freePortOn(c.opts.bindAddress); err != nil {
			return err
		}
		// The config's host carries the port, so it is rebuilt with it.
		return c.setAdminConfig()
	}); err != nil {
		return c, err
	}
	if o.nodeAuthorization {
		if err := c.bindKubeletClient(ctx); err != nil {
			return c, err
		}
	}

	if o.controllers != nil {
		c.ControllerManager = c.newComponent(binControllerManager, bins, c.controllerManagerArgs, c.controllerManagerReady)
		if err := startComponent(ctx, c.ControllerManager, func() (err error) {
			c.ports.controllerManager, err = freePort()
			return err
		}); err != nil {
			return c, err
		}
	}
	if o.scheduler {
		c.Scheduler = c.newComponent(binScheduler, bins, c.schedulerArgs, c.schedulerReady)
		if err := startComponent(ctx, c.Scheduler, func() (err error) {
			c.ports.scheduler, err = freePort()
			return err
		}); err != nil {
			return c, err
		}
	}
	return c, nil
}

// servingIPs are the addresses the API server's certificate names besides
// loopback: the kubernetes Service's and a WithBindAddress one.
func servingIPs(o options) []netip.Addr {
	ips := kubernetesServiceIPs(o.serviceCIDRs)
	if o.bindAddress != loopback { // newPKI names 127.0.0.1 and ::1 already
		ips = append(ips, o.bindAddress)
	}
	return ips
}

func (c *Cluster) newComponent(name string, bins map[string]string, args func() []string, ready func(context.Context) error) *Component {
	return &Component{
		name:    name,
		bin:     bins[name],
		args:    args,
		ready:   ready,
		logPath: filepath.Join(c.LogDir, name+".log"),
		timeout: c.opts.startTimeout,
		grace:   stopGrace,
	}
}

// portAttempts is how many sets of ports a component gets: picking a free port
// and binding it are two steps, and another process can bind in between.
const portAttempts = 3

// startComponent picks ports with pickPorts and starts comp, picking new
// ports when it exits because one was taken.
func startComponent(ctx context.Context, comp *Component, pickPorts func() error) error {
	var err error
	for range portAttempts {
		if err = pickPorts(); err != nil {
			return err
		}
		err = comp.Start(ctx)
		var exited *exitedError
		if err == nil || !errors.As(err, &exited) || !exited.addrInUse() {
			return err
		}
	}
	return fmt.Errorf("after %d sets of ports: %w", portAttempts, err)
}

// Stop stops every component, the last started first. It is safe to call more
// than once; the test's cleanup calls it too.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for _, comp := range []*Component{c.Scheduler, c.ControllerManager, c.APIServer, c.Etcd} {
			if comp != nil {
				_ = comp.Stop()
			}
		}
		if c.adminHTTP != nil {
			c.adminHTTP.CloseIdleConnections()
		}
		c.probeClient.CloseIdleConnections()
	})
}

func (c *Cluster) cleanup(t testing.TB, keepLogs bool) {
	// Printed before stopping: the shutdown lines every component logs would
	// otherwise push what it said about the failure out of the tail.
	if t.Failed() || panicking() {
		c.printLogs(t)
		keepLogs = true
	}
	c.Stop()
	if keepLogs {
		t.Logf("cluster: component logs kept in %s", c.LogDir)
	} else if err := os.RemoveAll(c.LogDir); err != nil {
		t.Errorf("cluster: remove %s: %v", c.LogDir, err)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		t.Errorf("cluster: remove %s: %v", c.Dir, err)
	}
}

// panicking reports whether the test's goroutine is unwinding a panic.
// testing runs cleanups during the unwinding but marks the test failed only
// afterwards, so t.Failed is still false here; the panic shows as a
// runtime.gopanic frame, printed "panic(", in the goroutine's own stack.
func panicking() bool {
	return bytes.Contains(debug.Stack(), []byte("\npanic("))
}

// printLogs prints the end of each component's log, the first place to look
// when a test against the cluster fails.
func (c *Cluster) printLogs(t testing.TB) {
	for _, comp := range []*Component{c.Etcd, c.APIServer, c.ControllerManager, c.Scheduler} {
		if comp == nil {
			continue
		}
		b, err := os.ReadFile(comp.logPath)
		if err != nil {
			t.Logf("cluster: %s log: %v", comp.name, err)
			continue
		}
		t.Logf("cluster: last %d lines of %s:\n%s", logTailLines, comp.logPath, tailLines(b, logTailLines))
	}
}

func (c *Cluster) componentNames() []string {
	var names []string
	for _, comp := range []*Component{c.Etcd, c.APIServer, c.ControllerManager, c.Scheduler} {
		if comp != nil {
			names = append(names, comp.name)
		}
	}
	return names
}

// makeLogDir creates the folder for the component logs: inside $LogDirEnv
// when set (and then kept), else a temporary one.
func makeLogDir(testName string) (dir string, keep bool, err error) {
	if root := os.Getenv(LogDirEnv); root != "" {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return "", false, err
		}
		dir, err := os.MkdirTemp(root, sanitize(testName)+"-")
		return dir, true, err
	}
	dir, err = os.MkdirTemp("", "frontdesk-cluster-logs-")
	return dir, false, err
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(name string) string {
	s := unsafeChars.ReplaceAllString(name, "_")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// kubernetesServiceIPs are the first address of each Service range, which the
// API server gives to the "kubernetes" Service; in-cluster clients reach the
// API server there, so its serving certificate must name them.
func kubernetesServiceIPs(cidrs []netip.Prefix) []netip.Addr {
	ips := make([]netip.Addr, 0, len(cidrs))
	for _, p := range cidrs {
		ips = append(ips, p.Masked().Addr().Next())
	}
	return ips
}
