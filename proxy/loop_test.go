package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// TestLoopCoalesces: a burst of changes inside one minimum interval becomes few transactions, and
// everything in the burst reaches the table. It runs in a synctest bubble: the 2 ms between changes
// are fake time, so the count does not depend on how busy the machine is.
func TestLoopCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var count int
		var fake *knftables.Fake
		tp := newTestProxy(t, func(c *Config) {
			c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
			c.MinSyncPeriod = 300 * time.Millisecond
			c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
				fake = knftables.NewFake(f, table)
				return &countingNFT{Fake: fake, count: &count}, nil
			}
		})
		tp.runInBackground(t)
		for i := range 50 {
			name := fmt.Sprintf("s%02d", i)
			tp.SetService(newService(name, clusterIP(fmt.Sprintf("10.96.3.%d", i))))
			tp.store.setSlice(newSlice(name, name, v1.ProtocolTCP, remote1))
			time.Sleep(2 * time.Millisecond)
		}
		<-tp.Ready()
		for n, deadline := 0, time.Now().Add(10*time.Second); n < 50; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 50 Services in the table after 10 s", n)
			}
			fake.RLock()
			if fake.Table != nil {
				n = len(fake.Table.Maps[mapServiceIPs].Elements)
			}
			fake.RUnlock()
		}
		synctest.Wait()
		// 100 changes over 100 ms (fake) with a 300 ms minimum interval and a burst of two: the
		// first sync, one more from the burst, and the rest together once the interval has passed.
		if count > 3 {
			t.Errorf("100 changes took %d transactions; they were not coalesced", count)
		}
	})
}

func TestHealthz(t *testing.T) {
	tp := newTestProxy(t)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		tp.HealthzHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("before the first sync: %d, want 503", code)
	}
	tp.apply(t, newService("web"))
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, "lastSuccessfulSync") {
		t.Errorf("after a sync: %d %s, want 200", code, body)
	}
	// A failing sync's error stays in the log: the port answers anyone.
	tp.mu.Lock()
	tp.lastErr = errors.New("nft: table ip frontdesk-proxy: chain secret-chain")
	tp.mu.Unlock()
	if _, body := get(); strings.Contains(body, "secret-chain") {
		t.Errorf("/healthz shows the sync's error: %s", body)
	}
}

// startPacedProxy runs a proxy on a fake IPv4 table with a 4 s minimum sync period; programmed
// counts the Services without endpoints in the kernel (one per Service the tests add).
func startPacedProxy(t *testing.T) (tp *testProxy, programmed func() int) {
	t.Helper()
	var fake *knftables.Fake
	tp = newTestProxy(t, func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.MinSyncPeriod = 4 * time.Second
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
			fake = knftables.NewFake(f, table)
			return fake, nil
		}
	})
	tp.runInBackground(t)
	programmed = func() int {
		fake.RLock()
		defer fake.RUnlock()
		return len(fake.Table.Maps[mapNoEndpointServices].Elements)
	}
	return tp, programmed
}

// The two tests below run in a synctest bubble: time is fake and moves only when every goroutine
// of the proxy is blocked, so "not programmed yet" is checked once the loop is provably idle
// (synctest.Wait), not after a sleep, and the minimum interval is measured exactly.

// TestLoopBurst: two changes in quick succession are both programmed at once (the burst), a third
// right after them waits for the minimum interval, and none is lost.
func TestLoopBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tp, programmed := startPacedProxy(t)
		// One event per change (a Service without endpoints, REJECTed), so that a change is one sync.
		add := func(i int) {
			tp.SetService(newService(fmt.Sprintf("b%d", i), clusterIP(fmt.Sprintf("10.96.4.%d", i))))
		}
		add(0) // the first, full sync spends one token of the burst
		<-tp.Ready()
		time.Sleep(2 * 4 * time.Second) // both tokens back, whatever the start spent
		base := programmed()
		add(1)
		synctest.Wait()
		if got := programmed(); got != base+1 {
			t.Fatalf("%d Services programmed after the first change, want %d at once (the burst)", got, base+1)
		}
		add(2)
		synctest.Wait()
		if got := programmed(); got != base+2 {
			t.Fatalf("%d Services programmed after the second change, want %d at once (the burst)", got, base+2)
		}
		add(3)
		synctest.Wait() // the loop is idle: waiting for the limiter's next token
		if programmed() != base+2 {
			t.Fatal("a third change right after two others was programmed at once; the minimum interval (4 s) did not hold")
		}
		start := time.Now()
		for programmed() < base+3 {
			time.Sleep(10 * time.Millisecond)
		}
		if d := time.Since(start); d < 3*time.Second || d > 5*time.Second {
			t.Errorf("the third change was programmed %s after it came, want the minimum interval (4 s)", d)
		}
	})
}

// TestLoopNewAddressNotHeldBack: once the burst is spent, a Service gaining a LoadBalancer address
// is programmed at once, cutting short the wait of an ordinary change pending before it (which
// rides along), while the next ordinary change still waits out the minimum interval.
func TestLoopNewAddressNotHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tp, programmed := startPacedProxy(t)
		add := func(i int) {
			tp.SetService(newService(fmt.Sprintf("b%d", i), clusterIP(fmt.Sprintf("10.96.4.%d", i))))
		}
		add(0)
		<-tp.Ready()
		// The start spends one token or two (b0 may come after the first sync): wait until both
		// are back, then spend the burst.
		time.Sleep(2 * 4 * time.Second)
		add(1)
		synctest.Wait() // one sync per change: two changes pending at once would share one
		add(2)
		synctest.Wait()
		if got := programmed(); got != 3 {
			t.Fatalf("%d Services programmed, want 3 (the burst)", got)
		}
		add(3) // waits for the next token, 4 s away
		synctest.Wait()
		if programmed() != 3 {
			t.Fatal("a third change in a row was programmed at once; the burst did not hold")
		}

		// The Service arrives as the API server makes it (a ClusterIP, no address yet), then its
		// EndpointSlice: held back too.
		lb := netip.MustParseAddr("203.0.113.7")
		svc := newService("lb", clusterIP("10.96.4.100"), loadBalancer())
		svc.ResourceVersion = "1"
		tp.SetService(svc)
		tp.SetEndpointSlice(newSlice("lb", "lb-1", v1.ProtocolTCP, remote1))
		synctest.Wait()
		if programmed() != 3 {
			t.Fatal("a new Service without an address was programmed at once")
		}
		// Its address: programmed at once (no fake time passes), and the changes pending before
		// it with it.
		with := svc.DeepCopy()
		with.ResourceVersion = "2"
		with.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: lb.String()}}
		start := time.Now()
		tp.SetService(with)
		for !tp.Forwards(lb) {
			time.Sleep(10 * time.Millisecond)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the new address took %s, want well under the 4 s interval", d)
		}
		if n := programmed(); n != 4 {
			t.Errorf("%d Services without endpoints programmed, want 4: the change pending before the address goes with it", n)
		}
		// The ordinary budget is untouched: the next change waits for the limiter's token.
		add(4)
		synctest.Wait()
		if programmed() != 4 {
			t.Fatal("an ordinary change right after the address's sync was programmed at once")
		}
		for programmed() < 5 {
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestGainsAddress(t *testing.T) {
	lb := func(ips ...string) *v1.Service { return newService("s", loadBalancer(ips...)) }
	for _, c := range []struct {
		name     string
		old, cur *v1.Service
		want     bool
	}{
		{"new Service without an address", nil, lb(), false},
		{"new Service with an address", nil, lb("203.0.113.1"), true},
		{"address added to the status", lb(), lb("203.0.113.1"), true},
		{"same address", lb("203.0.113.1"), lb("203.0.113.1"), false},
		{"address removed", lb("203.0.113.1"), lb(), false},
		{"second address", lb("203.0.113.1"), lb("203.0.113.1", "2001:db8::1"), true},
		{"externalIP added", newService("s"), newService("s", externalIPs("198.51.100.1")), true},
		{"ingress of a ClusterIP Service (not forwarded)", nil, func() *v1.Service {
			s := lb("203.0.113.1")
			s.Spec.Type = v1.ServiceTypeClusterIP
			return s
		}(), false},
	} {
		if got := gainsAddress(c.old, c.cur); got != c.want {
			t.Errorf("%s: gainsAddress = %v, want %v", c.name, got, c.want)
		}
	}
}
