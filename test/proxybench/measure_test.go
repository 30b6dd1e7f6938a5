//go:build netns && integration

package proxybench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// startProxies starts both proxies and waits until each has programmed the ClusterIPs of the
// first n Services and answers /healthz.
func (e *env) startProxies(ctx context.Context, n int) {
	e.t.Helper()
	for _, nd := range e.nodes {
		nd.proxy = nd.newCmd()
	}
	e.waitProgrammed(ctx, n)
	for _, nd := range e.nodes {
		if _, err := nd.waitHealthy(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
}

// waitProgrammed waits until both kernels hold the ClusterIPs of the first n Services.
func (e *env) waitProgrammed(ctx context.Context, n int) {
	e.t.Helper()
	ips := e.ips(n)
	for _, nd := range e.nodes {
		if _, err := nd.mon.WaitAll(ctx, ips); err != nil {
			e.t.Fatalf("%s: %v", nd.name, err)
		}
	}
	progress("both proxies hold %d ClusterIPs", n)
}

// firstPacket measures TCP connection setup (SYN to SYN-ACK, through DNAT for a ClusterIP) from
// inside each node namespace, `rounds` times per case, to ClusterIPs of random Services among
// the first n and, as the baseline, directly to one of their endpoints. The cases are
// interleaved so that the machine's load falls on all of them alike. Keys: "<proxy>-vip",
// "<proxy>-direct".
func (e *env) firstPacket(ctx context.Context, n, rounds int) (map[string][]time.Duration, error) {
	ips := e.ips(n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	out := map[string][]time.Duration{}
	for range rounds {
		i := rng.IntN(n)
		for _, nd := range e.nodes {
			name := proxyNames[slices.Index(e.nodes, nd)]
			for _, c := range []struct {
				what string
				addr netip.AddrPort
			}{
				{"vip", netip.AddrPortFrom(ips[i], servicePort)},
				{"direct", netip.AddrPortFrom(epAddr(rng.IntN(2), i), epPort)},
			} {
				d, err := connectTime(ctx, nd, c.addr)
				if err != nil {
					return nil, fmt.Errorf("%s: connecting to %s (%s): %w", nd.name, c.addr, c.what, err)
				}
				out[name+"-"+c.what] = append(out[name+"-"+c.what], d)
			}
		}
	}
	return out, nil
}

// connectTime times one connect on the namespace's own thread (so that handing the call to it
// is not counted) and resets the connection, leaving no TIME_WAIT behind.
func connectTime(ctx context.Context, nd *node, addr netip.AddrPort) (time.Duration, error) {
	var d time.Duration
	err := nd.ns.Do(func() error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		t0 := time.Now()
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr.String())
		d = time.Since(t0)
		if err != nil {
			return err
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		return c.Close()
	})
	return d, err
}

// oneChange creates count Services from base without endpoints, lets both proxies settle, then
// gives them endpoints one at a time and times, from the EndpointSlice create returning to the
// ClusterIP arriving in service-ips, one proxy per block of `block` changes while the other is
// stopped (SIGSTOP): both react to the same change at the same moment otherwise, and on two cores
// each proxy's sync would be timed against the other's. The stopped proxy then catches up before
// the next block, which times it. Changes are spaced by more than both proxies'
// --min-sync-period (1 s, the default of both), so that each starts a sync at once rather than
// waiting out the previous one.
func (e *env) oneChange(ctx context.Context, base, count, block int) (map[string][]time.Duration, error) {
	ips := make([]netip.Addr, count)
	for k := range count {
		ip, err := e.createService(ctx, base+k)
		if err != nil {
			return nil, err
		}
		ips[k] = ip
	}
	time.Sleep(3 * time.Second) // both proxies have synced the endpoint-less Services
	out := map[string][]time.Duration{}
	for k := 0; k < count; k += block {
		j := (k / block) % len(e.nodes) // the measured proxy
		others := slices.Delete(slices.Clone(e.nodes), j, j+1)
		for _, o := range others {
			if err := o.proxy.Signal(syscall.SIGSTOP); err != nil {
				return nil, err
			}
		}
		nd := e.nodes[j]
		end := min(k+block, count)
		var err error
		for i := k; i < end && err == nil; i++ {
			next := time.Now().Add(1500 * time.Millisecond)
			if err = e.createSlice(ctx, base+i); err != nil {
				break
			}
			t0 := time.Now()
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			var at time.Time
			at, err = nd.mon.WaitAll(wctx, ips[i:i+1])
			cancel()
			if err != nil {
				err = fmt.Errorf("%s, change %d: %w", nd.name, i, err)
				break
			}
			out[proxyNames[j]] = append(out[proxyNames[j]], max(0, at.Sub(t0)))
			time.Sleep(time.Until(next))
		}
		for _, o := range others {
			if perr := o.proxy.Signal(syscall.SIGCONT); perr != nil && err == nil {
				err = perr
			}
		}
		if err != nil {
			return nil, err
		}
		// The others catch up (their own time is not measured here), then rest a sync period.
		for _, o := range others {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := o.mon.WaitAll(wctx, ips[k:end])
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s catching up after a pause: %w", o.name, err)
			}
		}
		time.Sleep(1500 * time.Millisecond)
		progress("%d/%d single changes timed", end, count)
	}
	return out, nil
}

// coldStartResult is one proxy's start with every Service already in the API server.
type coldStartResult struct {
	programmed time.Duration // start to the last of the ClusterIPs in service-ips
	healthy    time.Duration // start to the first 200 from /healthz
	// atHealthy is how many ClusterIPs service-ips held when listed right after the first 200:
	// whether /healthz waits for the rules (the listing may also catch some that came after).
	atHealthy int
	rssMiB    float64 // resident memory once both happened
}

// coldStart stops node j's proxy, deletes its tables (an empty kernel, as on a new node), starts
// it and times until the first n ClusterIPs are all in service-ips and /healthz answers 200.
func (e *env) coldStart(ctx context.Context, j, n int) (coldStartResult, error) {
	nd := e.nodes[j]
	nd.proxy.Stop(syscall.SIGTERM)
	for _, fam := range []string{"ip", "ip6"} {
		// Absent tables are fine: the proxy may not have made one for a family.
		_ = nd.ns.Command("nft", "delete", "table", fam, nd.table).Run()
	}
	// An absent map counts none; any other failure to list it is an error.
	if c, err := nd.countElements(); err != nil {
		return coldStartResult{}, err
	} else if c != 0 {
		return coldStartResult{}, fmt.Errorf("%s: %d elements left after deleting the table", nd.name, c)
	}
	nd.mon.Reset()
	ips := e.ips(n)
	t0 := time.Now()
	nd.proxy = nd.newCmd()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	var hAt time.Time
	var hErr error
	var wg sync.WaitGroup
	var atHealthy int
	wg.Go(func() {
		if hAt, hErr = nd.waitHealthy(ctx); hErr == nil {
			atHealthy, hErr = nd.countElements()
		}
	})
	pAt, err := nd.mon.WaitAll(ctx, ips)
	wg.Wait()
	if err != nil {
		return coldStartResult{}, fmt.Errorf("%s cold start: %w", nd.name, err)
	}
	if hErr != nil {
		return coldStartResult{}, hErr
	}
	r := coldStartResult{programmed: pAt.Sub(t0), healthy: hAt.Sub(t0), atHealthy: atHealthy}
	c, err := nd.countElements()
	if err != nil {
		return r, err
	}
	if c < n {
		return r, fmt.Errorf("%s: service-ips holds %d elements after the cold start, want at least %d", nd.name, c, n)
	}
	r.rssMiB, err = nd.proxy.RSSMiB()
	// frontdesk's readiness promises every ClusterIP in the kernel by the first 200 (a node must
	// not take traffic before it forwards); the listing can only have caught more than there were
	// at that instant, never fewer, so a short count is a broken promise and fails the run.
	// kube-proxy makes no such promise (it answers 200 before its table exists).
	if j == frontdesk && atHealthy < n && err == nil {
		err = fmt.Errorf("%s: /healthz said 200 with %d of %d ClusterIPs in the kernel; want all of them", nd.name, atHealthy, n)
	}
	progress("%s cold start with %d Services: programmed in %s, healthy in %s with %d ClusterIPs in the kernel, RSS %.0f MiB",
		proxyNames[j], n, r.programmed.Round(time.Millisecond), r.healthy.Round(time.Millisecond), r.atHealthy, r.rssMiB)
	return r, err
}

// quantile is the nearest-rank quantile q of d (which it sorts).
func quantile(d []time.Duration, q float64) time.Duration {
	slices.Sort(d)
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(0, min(i, len(d)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// scaleName renders a Service count as 1k, 10k or 200.
func scaleName(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
