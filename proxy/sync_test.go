package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// goldenObjects is a small cluster touching every kind of rule.
func goldenObjects() []any {
	return []any{
		newService("web"),
		newSlice("web", "web-1", v1.ProtocolTCP, local1, remote1),
		newService("lb", clusterIP("10.96.0.2"), loadBalancer("203.0.113.1"), nodePort(30080), sourceRanges("172.16.0.0/16")),
		newSlice("lb", "lb-1", v1.ProtocolTCP, remote1, remote2),
		newService("lblocal", clusterIP("10.96.0.3"), loadBalancer("203.0.113.2"), nodePort(30081), externalLocal(32000)),
		newSlice("lblocal", "lblocal-1", v1.ProtocolTCP, local1, remote1),
		newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), affinity(10800)),
		newSlice("dns", "dns-1", v1.ProtocolUDP, local2, remote2),
		newService("empty", clusterIP("10.96.0.4"), externalIPs("198.51.100.1")),
		newService("dual", clusterIP("10.96.0.5", "fd00:96::5")),
		newSlice("dual", "dual-v4", v1.ProtocolTCP, local1),
		newSlice("dual", "dual-v6", v1.ProtocolTCP, ep{ip: "fd00:244:1::5", node: testNode}),
	}
}

func TestGoldenFullSync(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t, goldenObjects()...)
	golden(t, "full-ipv4", normalizedDump(tp.fakes[knftables.IPv4Family]))
	golden(t, "full-ipv6", normalizedDump(tp.fakes[knftables.IPv6Family]))
}

// TestGoldenPartialSync shows that a change sends only what changed: one endpoint leaving "web"
// touches web's chains and nothing else.
func TestGoldenPartialSync(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t, goldenObjects()...)
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1))
	golden(t, "partial-endpoint-removed", tp.fakes[knftables.IPv4Family].LastTransaction.String())
	tp.apply(t, newService("web", loadBalancer("203.0.113.9")))
	golden(t, "partial-became-loadbalancer", tp.fakes[knftables.IPv4Family].LastTransaction.String())
	before := tp.fakes[knftables.IPv6Family].LastTransaction
	tp.apply(t, newSlice("web", "web-1", v1.ProtocolTCP, local1, local2))
	if tp.fakes[knftables.IPv6Family].LastTransaction != before {
		t.Errorf("an IPv4-only change sent an IPv6 transaction:\n%s", tp.fakes[knftables.IPv6Family].LastTransaction)
	}
}

// TestPartialSyncsMatchFullSync applies random changes one sync at a time and checks after each
// that the table equals what a fresh proxy writes from the same objects in one full sync.
func TestPartialSyncsMatchFullSync(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	endpoints := []ep{local1, local2, remote1, remote2, {ip: "10.244.1.9", node: testNode, terminating: true}}
	tweaks := []func(*v1.Service){nodePort(30090), loadBalancer("203.0.113.7"), externalLocal(32001), affinity(300),
		internalLocal, externalIPs("198.51.100.7"), sourceRanges("172.16.0.0/16"), protocol(v1.ProtocolUDP)}
	objects := map[string]any{}
	live := newTestProxy(t)
	// excluded toggles node-b's exclusion for death (SetExcludedNodes), which must reach exactly
	// the Services with endpoints there.
	var excluded map[string]ExcludedNode
	dead := time.Now()
	for step := range 200 {
		name := fmt.Sprintf("svc%d", rng.IntN(6))
		var changed any
		switch rng.IntN(5) {
		case 4:
			if excluded == nil {
				excluded = map[string]ExcludedNode{"node-b": {DeadSince: dead}}
			} else {
				excluded = nil
			}
			live.SetExcludedNodes(excluded)
		case 0, 1:
			var eps []ep
			for _, e := range endpoints {
				if rng.IntN(2) == 0 {
					eps = append(eps, e)
				}
			}
			proto := v1.ProtocolTCP
			if s, ok := objects["svc/"+name].(*v1.Service); ok {
				proto = s.Spec.Ports[0].Protocol
			}
			changed = newSlice(name, name+"-1", proto, eps...)
			objects["slice/"+name] = changed
		case 2:
			var tw []func(*v1.Service)
			for _, x := range tweaks {
				if rng.IntN(3) == 0 {
					tw = append(tw, x)
				}
			}
			tw = append(tw, clusterIP(fmt.Sprintf("10.96.1.%d", len(name)+int(name[3]))))
			changed = newService(name, tw...)
			objects["svc/"+name] = changed
		case 3:
			if _, ok := objects["svc/"+name]; ok {
				live.DeleteService("default", name)
				delete(objects, "svc/"+name)
			}
			if es, ok := objects["slice/"+name].(*discovery.EndpointSlice); ok {
				live.store.deleteSlice(es)
				delete(objects, "slice/"+name)
			}
		}
		if changed != nil {
			live.apply(t, changed)
		} else if err := live.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		fresh := newTestProxy(t)
		fresh.SetExcludedNodes(excluded)
		var all []any
		for _, o := range objects {
			all = append(all, o)
		}
		fresh.apply(t, all...)
		for _, f := range []knftables.Family{knftables.IPv4Family, knftables.IPv6Family} {
			if diff := cmp.Diff(normalizedDump(fresh.fakes[f]), normalizedDump(live.fakes[f])); diff != "" {
				t.Fatalf("step %d: partial syncs drifted from a full sync (-full +partial):\n%s", step, diff)
			}
		}
	}
}

// failingNFT fails the transactions it is told to, then behaves like the fake it wraps.
type failingNFT struct {
	*knftables.Fake
	fail int
}

func (f *failingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("injected failure")
	}
	return f.Fake.Run(ctx, tx)
}

// newFailingProxy is an IPv4 test proxy whose nft fails its next transactions when told to.
func newFailingProxy(t *testing.T) (*testProxy, *failingNFT) {
	nft := &failingNFT{}
	tp := newTestProxy(t, func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
			nft.Fake = knftables.NewFake(f, table)
			return nft, nil
		}
	})
	return tp, nft
}

func TestFailureFallsBackToFullSync(t *testing.T) {
	tp, nft := newFailingProxy(t)
	tp.apply(t, goldenObjects()...)
	nft.fail = 1
	tp.SetService(newService("web", nodePort(30099)))
	if err := tp.Sync(context.Background()); err == nil {
		t.Fatal("sync with a failing nft succeeded")
	}
	if !tp.tables[0].needFull {
		t.Fatal("a failed partial sync did not ask for a full sync")
	}
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nft.LastTransaction.String(), "flush chain ip frontdesk services") {
		t.Errorf("the retry was not a full sync:\n%s", nft.LastTransaction)
	}
	tr := newTracer(t, nft.Fake, knftables.IPv4Family, nodeIP)
	if diff := cmp.Diff([]string{toLocal1 + masq, toRemote1 + masq}, tr.trace(tcp("172.16.0.5", nodeIP.String(), 30099))); diff != "" {
		t.Errorf("the change lost in the failure is not in the table (-want +got):\n%s", diff)
	}
}

// TestFailedFullSyncKeepsUDPFlows: a full sync that fails (the periodic resync, or the retry
// of a failed partial sync) changes nothing in the kernel, so the full sync that retries it must
// find nothing to clear. It found every UDP Service new, as if it had just got its first
// endpoint, and deleted every flow to every UDP Service address, DNATed ones included: the
// restart breakage of k8s #122740, at any nft failure.
func TestFailedFullSyncKeepsUDPFlows(t *testing.T) {
	tp, nft := newFailingProxy(t)
	tp.apply(t, newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), nodePort(30053), loadBalancer("203.0.113.53")),
		newSlice("dns", "dns-1", v1.ProtocolUDP, remote1, remote2))
	tp.ct.take()
	nft.fail = 1
	tp.store.markAll()
	if err := tp.Sync(context.Background()); err == nil {
		t.Fatal("a full sync with a failing nft succeeded")
	}
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tp.ct.take(); len(got) != 0 {
		t.Errorf("the full sync after a failed one, with no Service changed, cleared conntrack entries: %v", got)
	}
	// What changed meanwhile is still cleared.
	nft.fail = 1
	tp.store.markAll()
	tp.store.setSlice(newSlice("dns", "dns-1", v1.ProtocolUDP, remote1))
	if err := tp.Sync(context.Background()); err == nil {
		t.Fatal("a full sync with a failing nft succeeded")
	}
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.2.6 --reply-port-src 8080",
		"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80 --reply-src 10.244.2.6 --reply-port-src 8080",
		"-D -p udp --orig-port-dst 30053 --reply-src 10.244.2.6 --reply-port-src 8080",
	}
	if diff := cmp.Diff(want, tp.ct.take()); diff != "" {
		t.Errorf("an endpoint that left during a failed full sync (-want +got):\n%s", diff)
	}
}

// TestColdStartIsSplit checks that a full sync of many Services is cut into transactions of at
// most ColdStartChunk Services, and that the result is whole.
func TestColdStartIsSplit(t *testing.T) {
	var count int
	var fake *knftables.Fake
	tp := newTestProxy(t, func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.ColdStartChunk = 10
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
			fake = knftables.NewFake(f, table)
			return &countingNFT{Fake: fake, count: &count}, nil
		}
	})
	var objs []any
	for i := range 35 {
		name := fmt.Sprintf("s%02d", i)
		objs = append(objs, newService(name, clusterIP(fmt.Sprintf("10.96.2.%d", i))), newSlice(name, name, v1.ProtocolTCP, remote1))
	}
	tp.apply(t, objs...)
	if count != 4 {
		t.Errorf("35 Services in chunks of 10 took %d transactions, want 4", count)
	}
	tr := newTracer(t, fake, knftables.IPv4Family, nodeIP)
	for _, ip := range []string{"10.96.2.0", "10.96.2.34"} {
		if diff := cmp.Diff([]string{toRemote1}, tr.trace(tcp("10.244.1.7", ip, 80))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ip, diff)
		}
	}

	// The table now serves: a full sync (the periodic resync, a restart) is one transaction,
	// since a split one would leave the later chunks unserved for a while.
	count = 0
	tp.store.markAll()
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Errorf("a full sync of a serving table took %d transactions, want 1", count)
	}
	tr = newTracer(t, fake, knftables.IPv4Family, nodeIP)
	if diff := cmp.Diff([]string{toRemote1}, tr.trace(tcp("10.244.1.7", "10.96.2.34", 80))); diff != "" {
		t.Errorf("after the resync (-want +got):\n%s", diff)
	}
}

type countingNFT struct {
	*knftables.Fake
	count *int
}

func (c *countingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	*c.count++
	return c.Fake.Run(ctx, tx)
}

// TestStaleChainsRemovedOnRestart: a proxy starting over a table a previous run left behind
// deletes the chains no Service wants any more.
func TestStaleChainsRemovedOnRestart(t *testing.T) {
	fake := knftables.NewFake(knftables.IPv4Family, "frontdesk")
	cfg := func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.NFTables = func(knftables.Family, string) (knftables.Interface, error) { return fake, nil }
	}
	first := newTestProxy(t, cfg)
	first.apply(t, newService("old", affinity(60)), newSlice("old", "old-1", v1.ProtocolTCP, remote1))
	second := newTestProxy(t, cfg)
	second.apply(t, newService("new", clusterIP("10.96.0.7")), newSlice("new", "new-1", v1.ProtocolTCP, remote2))
	dump := normalizedDump(fake)
	if strings.Contains(dump, "default/old/") {
		t.Errorf("the previous run's chains or sets survived the restart:\n%s", dump)
	}
	if !strings.Contains(dump, "default/new/") {
		t.Errorf("the new Service is missing:\n%s", dump)
	}
}

func TestUDPConntrackCleanup(t *testing.T) {
	tp := newTestProxy(t)
	svc := newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), nodePort(30053), loadBalancer("203.0.113.53"))
	tp.apply(t, svc, newSlice("dns", "dns-1", v1.ProtocolUDP, remote1, remote2))
	if got := tp.ct.take(); len(got) != 0 {
		t.Errorf("the first sync after a start cleared conntrack entries (k8s #122740): %v", got)
	}
	steps := []struct {
		name string
		objs []any
		del  bool
		want []string
	}{{
		name: "one endpoint leaves",
		objs: []any{newSlice("dns", "dns-1", v1.ProtocolUDP, remote1)},
		want: []string{
			"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.2.6 --reply-port-src 8080",
			"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80 --reply-src 10.244.2.6 --reply-port-src 8080",
			"-D -p udp --orig-port-dst 30053 --reply-src 10.244.2.6 --reply-port-src 8080",
		},
	}, {
		name: "scaled to zero (k8s #139628)",
		objs: []any{newSlice("dns", "dns-1", v1.ProtocolUDP)},
		want: []string{
			"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.2.5 --reply-port-src 8080",
			"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80 --reply-src 10.244.2.5 --reply-port-src 8080",
			"-D -p udp --orig-port-dst 30053 --reply-src 10.244.2.5 --reply-port-src 8080",
		},
	}, {
		name: "back from zero: flows that bypassed NAT go",
		objs: []any{newSlice("dns", "dns-1", v1.ProtocolUDP, local1)},
		want: []string{
			"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80",
			"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80",
			"-D -p udp --orig-port-dst 30053",
		},
	}, {
		// The same Pod, the same address, another port: its flows to the old port must go, or
		// a client keeping its source port keeps reaching the old one (the e2e test "should be
		// able to cleanup conntrack entries when UDP service target port changes").
		name: "the Service's targetPort changes",
		objs: []any{slicePort(newSlice("dns", "dns-1", v1.ProtocolUDP, local1), 9090)},
		want: []string{
			"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.1.5 --reply-port-src 8080",
			"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80 --reply-src 10.244.1.5 --reply-port-src 8080",
			"-D -p udp --orig-port-dst 30053 --reply-src 10.244.1.5 --reply-port-src 8080",
		},
	}, {
		name: "an unrelated change clears nothing",
		objs: []any{newService("web"), newSlice("web", "web-1", v1.ProtocolTCP, remote1)},
	}, {
		// The controller empties a LoadBalancer Service's status before its finalizer goes: the
		// Service is still there, with its endpoints, but the address is not.
		name: "LoadBalancer address released",
		objs: []any{newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), nodePort(30053))},
		want: []string{
			"-D -p udp --orig-dst 203.0.113.53 --orig-port-dst 80 --reply-src 10.244.1.5 --reply-port-src 9090",
		},
	}, {
		name: "Service deleted (k8s PR #141371)",
		del:  true,
		want: []string{
			"-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src 10.244.1.5 --reply-port-src 9090",
			"-D -p udp --orig-port-dst 30053 --reply-src 10.244.1.5 --reply-port-src 9090",
		},
	}}
	for _, s := range steps {
		if s.del {
			tp.DeleteService("default", "dns")
			if err := tp.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else {
			tp.apply(t, s.objs...)
		}
		if diff := cmp.Diff(s.want, tp.ct.take()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestReadyAndForwards(t *testing.T) {
	tp := newTestProxy(t)
	lbLocal := netip.MustParseAddr("203.0.113.2")
	lb := netip.MustParseAddr("203.0.113.1")
	select {
	case <-tp.Ready():
		t.Fatal("ready before any sync")
	default:
	}
	tp.apply(t,
		newService("lb", loadBalancer(lb.String())), newSlice("lb", "lb-1", v1.ProtocolTCP, remote1),
		newService("lblocal", clusterIP("10.96.0.3"), loadBalancer(lbLocal.String()), externalLocal(32000)),
		newSlice("lblocal", "lblocal-1", v1.ProtocolTCP, remote1))
	select {
	case <-tp.Ready():
	default:
		t.Fatal("not ready after a full sync")
	}
	if !tp.Forwards(lb) {
		t.Errorf("Forwards(%s) = false for a Service with endpoints", lb)
	}
	if tp.Forwards(lbLocal) {
		t.Errorf("Forwards(%s) = true for externalTrafficPolicy Local without a local endpoint", lbLocal)
	}
	tp.apply(t, newSlice("lblocal", "lblocal-1", v1.ProtocolTCP, local1))
	if !tp.Forwards(lbLocal) {
		t.Errorf("Forwards(%s) = false once a local endpoint exists", lbLocal)
	}
}

func TestHealthCheckNodePort(t *testing.T) {
	ports := map[string]net.Listener{}
	tp := newTestProxy(t, func(c *Config) {
		c.Listen = func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, "127.0.0.1:0") // loopback only; the real one binds addr
			if err == nil {
				ports[addr] = ln
			}
			return ln, err
		}
	})
	t.Cleanup(tp.health.close)
	svc := newService("lb", loadBalancer("203.0.113.1"), externalLocal(32000))
	tp.apply(t, svc, newSlice("lb", "lb-1", v1.ProtocolTCP, local1, local2, remote1))
	get := func() (int, string) {
		t.Helper()
		ln := ports[":32000"]
		if ln == nil {
			t.Fatal("no listener for healthCheckNodePort 32000")
		}
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	code, body := get()
	if code != 200 || !strings.Contains(body, `"localEndpoints":2`) {
		t.Errorf("with two local endpoints: %d %s, want 200 and localEndpoints 2", code, body)
	}
	tp.apply(t, newSlice("lb", "lb-1", v1.ProtocolTCP, remote1))
	code, body = get()
	if code != 503 || !strings.Contains(body, `"localEndpoints":0`) {
		t.Errorf("without local endpoints: %d %s, want 503 and localEndpoints 0", code, body)
	}
}

// tbRecorder stands in for testing.T to see the tracer fail.
type tbRecorder struct {
	testing.TB
	failed string
}

func (r *tbRecorder) Helper() {}
func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestTracerRefusesUnknownRules(t *testing.T) {
	fake := knftables.NewFake(knftables.IPv4Family, "t")
	tx := fake.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: chainFilterPrerouting})
	tx.Add(&knftables.Rule{Chain: chainFilterPrerouting, Rule: "ip daddr 10.0.0.1 counter accept"})
	if err := fake.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	rec := &tbRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		newTracer(rec, fake, knftables.IPv4Family).trace(tcp("10.0.0.2", "10.0.0.1", 80))
	}()
	<-done
	if !strings.Contains(rec.failed, "not understood") {
		t.Errorf("the tracer did not fail on an unknown rule; it said %q", rec.failed)
	}
}

// TestForwardsChanged: a sync that changes what Forwards answers leaves one notification; one that
// does not, none.
func TestForwardsChanged(t *testing.T) {
	tp := newTestProxy(t)
	notified := func() bool {
		select {
		case <-tp.ForwardsChanged():
			return true
		default:
			return false
		}
	}
	lb := newService("lb", loadBalancer("203.0.113.1"))
	lb.ResourceVersion = "1"
	tp.apply(t, lb, newSlice("lb", "lb-1", v1.ProtocolTCP, remote1))
	if !notified() {
		t.Error("no notification after a sync that forwards a new address")
	}
	tp.apply(t, newService("other", clusterIP("10.96.0.5")))
	if notified() {
		t.Error("a notification after a sync that forwards the same addresses")
	}
	gone := lb.DeepCopy()
	gone.ResourceVersion = "2"
	gone.Status.LoadBalancer.Ingress = nil
	tp.apply(t, gone)
	if !notified() || tp.Forwards(netip.MustParseAddr("203.0.113.1")) {
		t.Error("no notification after a sync that stopped forwarding the address")
	}
}

// slicePort sets the port of es's one port: the Pods' port after a change of the Service's
// targetPort.
func slicePort(es *discovery.EndpointSlice, port int32) *discovery.EndpointSlice {
	es.Ports[0].Port = &port
	return es
}
