//go:build netns && integration

package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// lab is one running lab and the clients the test uses.
type lab struct {
	o    supervisor.Options
	plan topology.Plan
	kube kubernetes.Interface
	api  client.Interface
	repo string
}

// logWriter sends the lab's progress lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// buildBinaries builds what a lab runs, as make lab does (supervisor.Build: the one-off builds
// into their caches, the images of this commit unless they are there, since the speaker,
// controller and proxy run from them), and returns the folder holding the lab's command, helm
// and gobgp, for labs started with Prebuilt.
func buildBinaries(t testing.TB, repo string) string {
	t.Helper()
	began := time.Now()
	var progress bytes.Buffer
	o := supervisor.Options{Repo: repo, Dir: t.TempDir(), Images: supervisor.ImagesDir(repo), Out: &progress}
	if err := supervisor.Build(t.Context(), o); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("binaries built in %s", time.Since(began).Round(time.Second))
	return filepath.Join(o.Dir, "bin")
}

// repoAndK8sBin finds the checkout and the Kubernetes binaries.
func repoAndK8sBin(t testing.TB) (string, string) {
	t.Helper()
	wd, _ := os.Getwd()
	repo, err := supervisor.FindRepo(wd)
	if err != nil {
		t.Fatal(err)
	}
	k8sBin, err := supervisor.K8sBinDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	return repo, k8sBin
}

func nodeBin(t testing.TB, repo string) string {
	t.Helper()
	d, err := supervisor.NodeBinDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// startLab makes a lab with a random name, running the binaries in bin, and registers its
// removal, which runs even when the test fails or panics and checks that nothing is left. Each
// edit changes the lab's options before it starts.
func startLab(t testing.TB, proxy, bin string, edits ...func(*supervisor.Options)) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root: it makes network namespaces")
	}
	repo, k8sBin := repoAndK8sBin(t)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "fdt" + hex.EncodeToString(suffix)
	o := supervisor.Options{
		Name: name, Dir: filepath.Join(os.TempDir(), "frontdesk-lab-"+name), Nodes: 3, Proxy: proxy, BGP: true,
		Repo: repo, K8sBin: k8sBin, NodeBin: nodeBin(t, repo), Images: supervisor.ImagesDir(repo),
		Prebuilt: true, DieWithParent: true, Out: logWriter{t},
	}
	for _, edit := range edits {
		edit(&o)
	}
	plan, err := o.Plan()
	if err != nil {
		t.Fatal(err)
	}
	before := readHostState(t)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, o)
		}
		if err := supervisor.Down(context.Background(), o); err != nil {
			t.Errorf("lab down: %v", err)
		}
		checkNothingLeft(t, before, name, o.Dir)
		if left := topology.ListNamespaces(name); len(left) > 0 {
			t.Errorf("namespaces left after down: %v", left)
		}
		if m, _ := filepath.Glob(filepath.Join(topology.EtcNetns, name+"-*")); len(m) > 0 {
			t.Errorf("/etc/netns entries left after down: %v", m)
		}
		if _, err := os.Stat(o.Dir); err == nil {
			t.Errorf("lab directory %s left after down", o.Dir)
		}
	})
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The lab's bin/ is the binaries built once for every lab of the test; down removes the link.
	if err := os.Symlink(bin, filepath.Join(o.Dir, "bin")); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := supervisor.Up(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab %s up in %s", name, time.Since(began).Round(100*time.Millisecond))
	checkHostDuringLab(t, before, o)
	cfg, err := supervisor.RESTConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{o: o, plan: plan, repo: repo}
	if l.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if l.api, err = client.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return l
}

// dumpLogs prints the end of every component log of a failed run.
func dumpLogs(t testing.TB, o supervisor.Options) {
	logs, _ := filepath.Glob(filepath.Join(o.Dir, "logs", "*.log"))
	cp, _ := filepath.Glob(filepath.Join(o.Dir, "cp", "logs", "*.log"))
	// frontdesk's own Pods (the speakers and the controller), as the kubelets keep their logs.
	pods, _ := filepath.Glob(filepath.Join(o.Dir, "nodes", "*", "pod-logs", supervisor.ChartNamespace+"_*", "*", "*.log"))
	for _, f := range append(append(logs, cp...), pods...) {
		if tail, ok := fileTail(f, 25); ok {
			t.Logf("--- %s (last 25 lines)\n%s", f, tail)
		}
	}
}

// fileTail is the last n lines of the file at path; ok is false when it cannot be read.
func fileTail(path string, n int) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n"), true
}

// helmUpgrade upgrades the lab's release of charts/frontdesk with its values and sets (helm's
// --set key=value), as a user changes one setting, from the control-plane namespace (where the
// API server's address is); helm's caches are the test's.
func (l *lab) helmUpgrade(t testing.TB, sets ...string) {
	t.Helper()
	var args []string
	for _, s := range sets {
		args = append(args, "--set="+s)
	}
	l.helm(t, args...)
}

// helm runs helm upgrade --reuse-values with extra arguments.
func (l *lab) helm(t testing.TB, extra ...string) {
	t.Helper()
	args := append([]string{"upgrade", supervisor.ChartRelease, filepath.Join(l.repo, "charts", "frontdesk"),
		"--namespace=" + supervisor.ChartNamespace, "--kubeconfig=" + l.o.Kubeconfig(), "--reuse-values"}, extra...)
	argv := netns.Enter(l.plan.NS(topology.RoleControlPlane), append([]string{filepath.Join(l.o.Dir, "bin", "helm")}, args...)...)
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	home := t.TempDir()
	cmd.Env = append(cmd.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm upgrade %v: %v\n%s", extra, err, out)
	}
}

// kubectl runs the lab's kubectl wrapper from the repository (so examples/ paths work).
func (l *lab) kubectl(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), l.o.Kubectl(), args...)
	cmd.Dir = l.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kubectlApply applies a manifest given as text.
func (l *lab) kubectlApply(t *testing.T, manifest string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), l.o.Kubectl(), "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// inNS runs argv inside network namespace ns (nsenter --net, as the lab's own components run)
// and returns its standard output; a failure fails t.
func inNS(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	cmd := netns.Enter(ns, argv...)
	out, err := exec.CommandContext(t.Context(), cmd[0], cmd[1:]...).Output()
	if err != nil {
		t.Fatalf("%s in %s: %v", argv[0], ns, err)
	}
	return string(out)
}

// eventually is testkit.Eventually, polling every 200 ms, for the lab's conditions, which say
// whether they hold and what they saw.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testkit.Eventually(t, timeout, 200*time.Millisecond, func() string {
		if ok, last := cond(); !ok {
			return what + ": not yet; last: " + last
		}
		return ""
	})
}

// response is one HTTP answer: the body and the Pod that sent it (http-echo's X-Lab-Pod).
type response struct {
	body, pod string
}

// httpGet makes one request from inside namespace ns, on a new connection, within 2 s.
func httpGet(ctx context.Context, ns, url string) (response, error) {
	r, _, err := timedGet(ctx, ns, url, 2*time.Second)
	return r, err
}

// timedGet makes one request from inside namespace ns, on a new connection, within timeout, and
// returns how long the answer took. An error says how far the request got (connected, request
// sent) and when, which tells a lost SYN from a lost answer.
func timedGet(ctx context.Context, ns, url string, timeout time.Duration) (response, time.Duration, error) {
	c := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DialContext: netns.Dialer(ns), DisableKeepAlives: true},
	}
	start := time.Now()
	var mu sync.Mutex
	var connected, wrote time.Duration
	trace := &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { mu.Lock(); connected = time.Since(start); mu.Unlock() },
		WroteRequest: func(httptrace.WroteRequestInfo) { mu.Lock(); wrote = time.Since(start); mu.Unlock() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return response{}, 0, err
	}
	failed := func(err error) (response, time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case connected == 0:
			err = fmt.Errorf("%w (not connected)", err)
		case wrote == 0:
			err = fmt.Errorf("%w (connected after %v, request not sent)", err, connected.Round(time.Millisecond))
		default:
			err = fmt.Errorf("%w (connected after %v, request sent after %v, no full answer)", err,
				connected.Round(time.Millisecond), wrote.Round(time.Millisecond))
		}
		return response{}, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return failed(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return failed(err)
	}
	if resp.StatusCode != http.StatusOK {
		return response{}, 0, fmt.Errorf("GET %s from %s: %s", url, ns, resp.Status)
	}
	return response{body: string(b), pod: resp.Header.Get("X-Lab-Pod")}, time.Since(start), nil
}

func url(addr netip.Addr, port int32) string {
	return "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + "/"
}

// loadTimeout is a load request's budget. A request fails when it gets no answer in 5 s: TCP
// recovers a lost SYN in 1 s and a second in 3 s more, which a client waits for; a way that is
// broken does not answer at all. Answers slower than slowAnswer are kept, with when they started,
// for the test's log: how close a run came.
const (
	loadTimeout = 5 * time.Second
	slowAnswer  = time.Second
)

// load sends requests from ns to target back to back (each on a new connection) until stopped,
// counting answers per body and failures.
type load struct {
	mu       sync.Mutex
	ok       map[string]int // body → count
	failures []string
	slow     []string // answers slower than slowAnswer: start time and duration
	slowest  time.Duration
	cancel   context.CancelFunc
	done     chan struct{}
}

func startLoad(ctx context.Context, ns, target string) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{ok: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			start := time.Now()
			r, took, err := timedGet(ctx, ns, target, loadTimeout)
			l.mu.Lock()
			switch {
			case err == nil:
				l.ok[strings.TrimSpace(r.body)]++
				l.slowest = max(l.slowest, took)
				if took > slowAnswer {
					l.slow = append(l.slow, fmt.Sprintf("%s took %v", start.Format("15:04:05.000"), took.Round(time.Millisecond)))
				}
			case ctx.Err() == nil:
				l.failures = append(l.failures, "started "+start.Format("15:04:05.000")+": "+err.Error())
			}
			l.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return l
}

// summary is what the test logs of a load: its slowest answer and those slower than slowAnswer.
func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("slowest answer %v; %d slower than %v %v", l.slowest.Round(time.Millisecond), len(l.slow), slowAnswer, l.slow)
}

// stop ends the load and returns the answers per body and the failures.
func (l *load) stop() (map[string]int, []string) {
	l.cancel()
	<-l.done
	return l.ok, l.failures
}

// answered counts the answers so far.
func (l *load) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.ok {
		n += v
	}
	return n
}

// podReady says whether a Pod's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (l *load) last() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.ok))
	for k, v := range l.ok {
		out[k] = v
	}
	return out
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices.
func (l *lab) readyEndpoints(ctx context.Context, svc string) int {
	slices, err := l.kube.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// ingressAddr waits up to 30 s for Service name's first LoadBalancer ingress address and
// returns it.
func (l *lab) ingressAddr(t *testing.T, name string) netip.Addr {
	t.Helper()
	var addr netip.Addr
	eventually(t, 30*time.Second, name+" external IP", func() (bool, string) {
		ing := l.service(t, name).Status.LoadBalancer.Ingress
		if len(ing) > 0 {
			addr, _ = netip.ParseAddr(ing[0].IP)
		}
		return addr.IsValid(), fmt.Sprint(ing)
	})
	return addr
}

// stayedReady checks that Service name's LoadBalancerReady condition is True and that no Warning
// Event of the controller said otherwise since (Events count in seconds) during what the test did.
func (l *lab) stayedReady(t *testing.T, name string, since time.Time, during string) {
	t.Helper()
	l.kubectl(t, "wait", "--for=condition=frontdesk.dev/LoadBalancerReady", "service/"+name, "--timeout=10s")
	evs, err := l.kube.CoreV1().Events(metav1.NamespaceDefault).List(t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Service,involvedObject.name=" + name + ",type=Warning,reason=LoadBalancerNotReady"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		if !ev.LastTimestamp.Time.Before(since.Truncate(time.Second)) {
			t.Errorf("%s was said not ready %s: %s", name, during, ev.Message)
		}
	}
}

func (l *lab) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	svc, err := l.kube.CoreV1().Services("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
