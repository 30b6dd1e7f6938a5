//go:build netns && integration

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/test/cluster"
	"github.com/frontdesk-lb/frontdesk/test/netns"
)

// BenchmarkNodeProxy runs frontdesk-proxy and the real kube-proxy (nftables mode) side by side
// against one API server, each in its own node namespace with a client and an endpoint namespace
// (the network of the root tests), and measures both in the same run:
//
//   - first-packet: TCP connect time from the client to a ClusterIP whose endpoint listens in the
//     endpoint namespace, with 1k and with 10k Services present (and a direct connection to the
//     endpoint, the floor);
//   - cold-start: from process start, with 10k Services × 2 endpoints, to the probe Service
//     answering (the probe sorts last);
//   - change: one EndpointSlice update (the probe's endpoint port moves between a closed port and
//     the listener) until the client's connections see it, i.e. through the API server, the watch,
//     the proxy and the kernel; 1 s apart, kube-proxy's default --min-sync-period, used by both;
//   - memory: each process's RSS with 10k Services.
//
// While one proxy is measured the other is stopped (SIGSTOP), so that the two do not share the
// two cores for the same events.
func BenchmarkNodeProxy(b *testing.B) {
	netns.RequireRoot(b, "ip", "nft", "conntrack")
	binDir, err := cluster.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	kubeProxy := filepath.Join(binDir, "kube-proxy")
	if _, err := os.Stat(kubeProxy); err != nil {
		b.Fatalf("kube-proxy binary: %v (make k8s-tools builds it)", err)
	}
	ours := buildProxy(b)
	c := cluster.Start(b)
	rc := rest.CopyConfig(c.Config)
	rc.QPS, rc.Burst = 2000, 4000
	kube := kubernetes.NewForConfigOrDie(rc)
	apiAddr := hostPort(b, c.Config.Host)

	const iterations = 40
	fd := newRunner(b, "frontdesk", apiAddr, c.KubeconfigPath, func(node string) []string {
		return []string{ours, "--kubeconfig=" + c.KubeconfigPath, "--hostname-override=" + node,
			"--cluster-cidr=10.99.0.0/16", "--min-sync-period=1s",
			"--metrics-bind-address=127.0.0.1:10269", "--healthz-bind-address=127.0.0.1:10266"}
	}, []string{"frontdesk"})
	kp := newRunner(b, "kube-proxy", apiAddr, c.KubeconfigPath, func(node string) []string {
		return []string{kubeProxy, "--proxy-mode=nftables", "--kubeconfig=" + c.KubeconfigPath,
			// Its nftables minSyncPeriod has no flag; the default is 1 s, as given to ours above.
			"--hostname-override=" + node, "--cluster-cidr=10.99.0.0/16",
			"--conntrack-max-per-core=0", "--conntrack-min=0", "--conntrack-tcp-timeout-established=0",
			"--conntrack-tcp-timeout-close-wait=0", "--metrics-bind-address=127.0.0.1:10249",
			"--healthz-bind-address=127.0.0.1:10256", "--v=0"}
	}, []string{"kube-proxy"})
	runners := []*runner{fd, kp}
	for _, r := range runners {
		createNode(b, kube, r.nodeName)
	}

	probe := createProbe(b, kube)
	createFillers(b, kube, 0, 999)
	for _, r := range runners {
		r.start(b)
	}
	for _, r := range runners {
		r.waitProbe(b, probe, 60*time.Second)
	}
	fp1k := map[string][]time.Duration{}
	failed := map[string]*int{}
	for _, k := range []string{"1k", "10k", "direct"} {
		for _, r := range []string{"frontdesk", "kube-proxy"} {
			failed[r+"/"+k] = new(int)
		}
	}
	direct := map[string][]time.Duration{}
	for _, r := range runners {
		other := otherOf(runners, r)
		other.pause(b)
		fp1k[r.name] = r.connectTimes(b, probe+":80", 1000, failed[r.name+"/1k"])
		direct[r.name] = r.connectTimes(b, ep1Addr+":8080", 1000, failed[r.name+"/direct"])
		other.resume(b)
	}

	for _, r := range runners {
		r.stop(b)
	}
	createFillers(b, kube, 1000, 9999)
	cold := map[string]time.Duration{}
	rss := map[string]float64{}
	for _, r := range runners {
		r.clearTables(b)
		start := time.Now()
		r.start(b)
		r.waitProbe(b, probe, 5*time.Minute)
		cold[r.name] = time.Since(start)
		time.Sleep(3 * time.Second) // let the process settle before reading its memory
		rss[r.name] = r.rssMiB(b)
		r.pause(b)
	}
	for _, r := range runners {
		r.resume(b)
	}
	time.Sleep(3 * time.Second)

	change := map[string][]time.Duration{}
	fp10k := map[string][]time.Duration{}
	for _, r := range runners {
		other := otherOf(runners, r)
		other.pause(b)
		time.Sleep(2 * time.Second)
		for i := range iterations {
			// The probe starts on the listener: the first change moves it away, so every
			// iteration is a real change.
			port := int32(8080)
			if i%2 == 0 {
				port = 9
			}
			time.Sleep(1100 * time.Millisecond)
			start := time.Now()
			setProbePort(b, kube, port)
			r.waitProbeState(b, probe, port == 8080, 30*time.Second)
			change[r.name] = append(change[r.name], time.Since(start))
		}
		setProbePort(b, kube, 8080)
		r.waitProbe(b, probe, 30*time.Second)
		time.Sleep(2 * time.Second) // any sync still under way ends before the measurement
		fp10k[r.name] = r.connectTimes(b, probe+":80", 1000, failed[r.name+"/10k"])
		other.resume(b)
		time.Sleep(2 * time.Second)
	}
	for _, r := range runners {
		rss[r.name] = max(rss[r.name], r.rssMiB(b))
	}
	diag := fmt.Sprintf("change latencies (ms), in order:\n  frontdesk:  %v\n  kube-proxy: %v\nfrontdesk's own metrics:\n%s",
		msList(change["frontdesk"]), msList(change["kube-proxy"]), fd.scrape(b, "127.0.0.1:10269"))
	b.Log(diag)
	if path := os.Getenv("FRONTDESK_PROXY_BENCH_DIAG"); path != "" {
		_ = os.WriteFile(path, []byte(diag), 0o644)
	}

	for _, r := range runners {
		r.stop(b)
	}
	for _, name := range []string{"frontdesk", "kube-proxy"} {
		b.Run("change-at-10k/"+name, func(b *testing.B) { reportQuantiles(b, change[name]) })
	}
	b.Run("change-at-10k/ratio", func(b *testing.B) {
		b.ReportMetric(quantile(change["kube-proxy"], 0.5)/quantile(change["frontdesk"], 0.5), "p50-kube-proxy/frontdesk")
		b.ReportMetric(quantile(change["kube-proxy"], 0.99)/quantile(change["frontdesk"], 0.99), "p99-kube-proxy/frontdesk")
	})
	for _, name := range []string{"frontdesk", "kube-proxy"} {
		b.Run("cold-start-10k/"+name, func(b *testing.B) { b.ReportMetric(ms(cold[name]), "ms") })
	}
	for _, name := range []string{"frontdesk", "kube-proxy"} {
		b.Run("first-packet-1k/"+name, func(b *testing.B) {
			reportQuantiles(b, fp1k[name])
			b.ReportMetric(float64(*failed[name+"/1k"]), "failed/1000")
		})
		b.Run("first-packet-10k/"+name, func(b *testing.B) {
			reportQuantiles(b, fp10k[name])
			b.ReportMetric(float64(*failed[name+"/10k"]), "failed/1000")
		})
		b.Run("first-packet-direct/"+name, func(b *testing.B) {
			reportQuantiles(b, direct[name])
			b.ReportMetric(float64(*failed[name+"/direct"]), "failed/1000")
		})
		b.Run("first-packet-growth-1k-to-10k/"+name, func(b *testing.B) {
			b.ReportMetric(100*(quantile(fp10k[name], 0.5)/quantile(fp1k[name], 0.5)-1), "p50-growth-%")
		})
	}
	for _, name := range []string{"frontdesk", "kube-proxy"} {
		b.Run("memory-10k/"+name, func(b *testing.B) { b.ReportMetric(rss[name], "RSS-MiB") })
	}
}

func msList(d []time.Duration) []string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = strconv.FormatFloat(ms(x), 'f', 1, 64)
	}
	return out
}

// scrape reads the sync metrics a proxy serves inside its node namespace.
func (r *runner) scrape(b *testing.B, addr string) string {
	out, err := exec.Command("ip", "netns", "exec", r.net.node.Name, "curl", "-s", "http://"+addr+"/metrics").Output()
	if err != nil {
		return "scrape failed: " + err.Error()
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "frontdesk_proxy_sync") || strings.HasPrefix(l, "frontdesk_proxy_transactions") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func reportQuantiles(b *testing.B, d []time.Duration) {
	b.ReportMetric(quantile(d, 0.5), "p50-ms")
	b.ReportMetric(quantile(d, 0.99), "p99-ms")
	b.ReportMetric(quantile(d, 1), "max-ms")
}

// quantile in milliseconds, nearest rank.
func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return ms(s[i])
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func hostPort(b *testing.B, host string) string {
	u, err := url.Parse(host)
	if err != nil {
		b.Fatal(err)
	}
	return u.Host
}

func otherOf(rs []*runner, r *runner) *runner {
	if rs[0] == r {
		return rs[1]
	}
	return rs[0]
}

// buildProxy builds cmd/frontdesk-proxy into a temporary folder.
func buildProxy(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/frontdesk-proxy")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "frontdesk-proxy")
}

// runner is one proxy process in its own kernelNet.
type runner struct {
	name     string
	nodeName string
	net      *kernelNet
	argv     []string
	tables   []string
	cmd      *exec.Cmd
	log      string
	exited   chan struct{}
}

func newRunner(b *testing.B, name, apiAddr, kubeconfig string, argv func(node string) []string, tables []string) *runner {
	k := newKernelNet(b)
	// The probe polls faster than the kernel's default ICMP rate limit for the refusals it gets.
	k.node.Sysctl("net.ipv4.icmp_ratelimit", "0")
	netns.ForwardLoopback(b, k.node, apiAddr)
	echo(b, k.ep1, "ep1")
	node := "node-" + name
	r := &runner{name: name, nodeName: node, net: k, argv: argv(node), tables: tables,
		log: filepath.Join(b.TempDir(), name+".log")}
	b.Cleanup(func() {
		r.stop(b)
		if b.Failed() {
			if out, err := os.ReadFile(r.log); err == nil {
				lines := strings.Split(string(out), "\n")
				b.Logf("%s log (last lines):\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	return r
}

func (r *runner) start(b *testing.B) {
	b.Helper()
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	r.cmd = r.net.node.Command(r.argv[0], r.argv[1:]...)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		_ = f.Close()
		close(done)
	}(r.cmd, r.exited)
}

func (r *runner) stop(b *testing.B) {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

func (r *runner) pause(b *testing.B) {
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		b.Fatal(err)
	}
}

func (r *runner) resume(b *testing.B) {
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		b.Fatal(err)
	}
}

// clearTables removes the proxy's tables in its node namespace, for a real cold start.
func (r *runner) clearTables(b *testing.B) {
	for _, fam := range []string{"ip", "ip6"} {
		for _, t := range r.tables {
			_ = exec.Command("ip", "netns", "exec", r.net.node.Name, "nft", "delete", "table", fam, t).Run()
		}
	}
}

func (r *runner) rssMiB(b *testing.B) float64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS for %s", r.name)
	return 0
}

// probeOnce tries one TCP connection to addr from the client namespace: true when the endpoint's
// listener answered, false when it was refused or timed out.
func (r *runner) probeOnce(addr string, timeout time.Duration) bool {
	var ok bool
	_ = r.net.client.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			ok = true
			_ = c.Close()
		}
		return nil
	})
	return ok
}

func (r *runner) waitProbe(b *testing.B, ip string, limit time.Duration) time.Duration {
	return r.waitProbeState(b, ip, true, limit)
}

// waitProbeState polls the probe Service every millisecond until connections succeed (want true)
// or are refused (want false), and returns how long that took.
func (r *runner) waitProbeState(b *testing.B, ip string, want bool, limit time.Duration) time.Duration {
	b.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		select {
		case <-r.exited:
			b.Fatalf("%s exited", r.name)
		default:
		}
		if r.probeOnce(ip+":80", 100*time.Millisecond) == want {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("%s: the probe Service did not reach state %v within %s", r.name, want, limit)
	return 0
}

// connectTimes measures n TCP connects from the client namespace to addr. Failed connects (a
// SYN lost for the 1 s timeout, or refused) are left out of the times and counted in failed, which
// the benchmark reports: on this shared machine a few in a thousand happened with either proxy.
func (r *runner) connectTimes(b *testing.B, addr string, n int, failed *int) []time.Duration {
	out := make([]time.Duration, 0, n)
	var failures []error
	for range n {
		var d time.Duration
		err := r.net.client.Do(func() error {
			start := time.Now()
			c, err := net.DialTimeout("tcp", addr, time.Second)
			d = time.Since(start)
			if err == nil {
				_ = c.Close()
			}
			return err
		})
		if err != nil {
			failures = append(failures, err)
			continue
		}
		out = append(out, d)
	}
	if len(failures) > 0 {
		b.Logf("%s: %d of %d connections to %s failed, the first: %v", r.name, len(failures), n, addr, failures[0])
	}
	if len(failures) > n/10 {
		b.Fatalf("%s: %d of %d connections to %s failed", r.name, len(failures), n, addr)
	}
	*failed += len(failures)
	return out
}

func createNode(b *testing.B, kube kubernetes.Interface, name string) {
	ctx := context.Background()
	n, err := kube.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: nodeAddr}}
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
}

const probeName = "zz-probe"

// createProbe creates the probe Service (it sorts after the fillers) with its endpoint on the
// listener, and returns its ClusterIP.
func createProbe(b *testing.B, kube kubernetes.Interface) string {
	svc, err := kube.CoreV1().Services("default").Create(context.Background(), benchService(probeName), metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Create(context.Background(),
		benchSlice(probeName, 8080, ep1Addr), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

func setProbePort(b *testing.B, kube kubernetes.Interface, port int32) {
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Update(context.Background(),
		benchSlice(probeName, port, ep1Addr), metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
}

func benchService(name string) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}}
}

func benchSlice(svc string, port int32, addrs ...string) *discovery.EndpointSlice {
	name, proto := "http", v1.ProtocolTCP
	es := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: "default", Labels: map[string]string{discovery.LabelServiceName: svc}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	for _, a := range addrs {
		ready := true
		es.Endpoints = append(es.Endpoints, discovery.Endpoint{Addresses: []string{a}, Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	return es
}

// createFillers creates Services from..to (inclusive), each with two endpoints.
func createFillers(b *testing.B, kube kubernetes.Interface, from, to int) {
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 32 {
		wg.Go(func() {
			for i := range work {
				name := fmt.Sprintf("svc-%05d", i)
				ctx := context.Background()
				_, err := kube.CoreV1().Services("default").Create(ctx, benchService(name), metav1.CreateOptions{})
				if err == nil {
					a := fmt.Sprintf("10.99.%d.%d", 100+(2*i)/256, (2*i)%256)
					c := fmt.Sprintf("10.99.%d.%d", 100+(2*i+1)/256, (2*i+1)%256)
					_, err = kube.DiscoveryV1().EndpointSlices("default").Create(ctx, benchSlice(name, 8080, a, c), metav1.CreateOptions{})
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := from; i <= to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}
