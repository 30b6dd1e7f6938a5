//go:build netns && integration

package lab

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// The failover client's pace: a new request every probeEvery, each on a fresh TCP connection,
// given up after probeTimeout. A request lost to a dead node would wait for TCP's 1 s SYN
// retransmission: the timeout counts it failed long before, and the next request goes out
// meanwhile, so a gap is seen to within probeEvery.
const (
	probeEvery   = 15 * time.Millisecond
	probeTimeout = 200 * time.Millisecond
)

// probe is one request: when it was sent, when it ended and whether it was answered.
type probe struct {
	sent, done time.Time
	ok         bool
	err        string
}

// prober sends a request every probeEvery from a namespace to one URL, each concurrently with
// the others, and keeps every outcome: a user's client, as the failover figures see it.
type prober struct {
	mu     sync.Mutex
	probes []probe // in order of completion
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startProber(ctx context.Context, ns, target, body string) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{cancel: cancel}
	c := &http.Client{
		Timeout: probeTimeout,
		Transport: &http.Transport{DialContext: netns.Dialer(ns), DisableKeepAlives: true,
			MaxConnsPerHost: 0, MaxIdleConns: 0},
	}
	p.wg.Go(func() {
		tick := time.NewTicker(probeEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p.wg.Go(func() {
				r := probe{sent: time.Now()}
				r.ok, r.err = get(ctx, c, target, body)
				r.done = time.Now()
				if ctx.Err() != nil {
					return // stopped, not failed
				}
				p.mu.Lock()
				p.probes = append(p.probes, r)
				p.mu.Unlock()
			})
		}
	})
	return p
}

func get(ctx context.Context, c *http.Client, target, body string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return false, err.Error()
	case resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != body:
		return false, fmt.Sprintf("%s: %q", resp.Status, b)
	}
	return true, ""
}

func (p *prober) stop() {
	p.cancel()
	p.wg.Wait()
}

// settled is a cut-off before which every request has ended: those sent later may still be
// waiting for their answer.
func settled(now time.Time) time.Time { return now.Add(-probeTimeout - 50*time.Millisecond) }

// window is what the client saw between from and to: the longest time between two successive
// answers (counting from the last answer before from), the requests sent in it that failed, and
// the first few of their errors, each with its time after from.
type window struct {
	gap    time.Duration
	failed int
	errs   []string
	last   time.Duration // the last failed request's time after from
	late   int           // failed requests sent more than lateAfter after from
}

// lateAfter is issue 15's bound: no failed request after the first second of a fault.
const lateAfter = time.Second

func (p *prober) window(from, to time.Time) window {
	p.mu.Lock()
	ps := slices.Clone(p.probes)
	p.mu.Unlock()
	slices.SortFunc(ps, func(a, b probe) int { return a.done.Compare(b.done) })
	var w window
	var last time.Time
	for _, r := range ps {
		if !r.sent.Before(from) && !r.sent.After(to) && !r.ok {
			w.failed++
			w.last = max(w.last, r.sent.Sub(from))
			if r.sent.Sub(from) > lateAfter {
				w.late++
			}
			if len(w.errs) < 3 {
				w.errs = append(w.errs, fmt.Sprintf("+%dms %s", r.sent.Sub(from).Milliseconds(), r.err))
			}
		}
		if !r.ok || r.done.After(to) {
			continue
		}
		if r.done.Before(from) {
			last = r.done
			continue
		}
		if !last.IsZero() {
			w.gap = max(w.gap, r.done.Sub(last))
		}
		last = r.done
	}
	return w
}

// answeredAfter reports whether a request sent after t was answered.
func (p *prober) answeredAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range slices.Backward(p.probes) {
		if r.ok && r.sent.After(t) {
			return true
		}
	}
	return false
}

// quietSince is how long, up to the settled cut-off, every request sent after t has been
// answered (0 if none was answered since the last failure).
func (p *prober) quietSince(t time.Time) time.Duration {
	cut := settled(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	from, answered := t, false
	for _, r := range p.probes {
		if !r.ok && r.sent.After(from) && !r.sent.After(cut) {
			from = r.sent
		}
	}
	for _, r := range p.probes {
		answered = answered || (r.ok && r.sent.After(from))
	}
	if !answered {
		return 0
	}
	return max(0, cut.Sub(from))
}

// waitSteady waits until the client has been answered without a failure for quiet since after,
// failing (with what it saw) when that takes longer than timeout, or when not one request sent
// after after is answered within firstAnswer: a trial that never recovers.
func (p *prober) waitSteady(ctx context.Context, after time.Time, quiet, firstAnswer, timeout time.Duration) (time.Time, error) {
	deadline := after.Add(timeout)
	for {
		switch {
		case p.quietSince(after) >= quiet:
			return settled(time.Now()), nil
		case !p.answeredAfter(after) && time.Since(after) > firstAnswer:
			w := p.window(after, time.Now())
			return time.Time{}, fmt.Errorf("never recovered: no request answered within %s (%d failed, e.g. %v)", firstAnswer, w.failed, w.errs)
		case time.Now().After(deadline):
			w := p.window(after, time.Now())
			return time.Time{}, fmt.Errorf("not steady after %s: requests still failing (%d failed, e.g. %v)", timeout, w.failed, w.errs)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pathWatch follows which nodes the client's requests for an address reach, with the time of
// every change: by ARP, the node whose MAC the client's neighbour entry names (watchNeigh); by
// BGP, the nodes the router's route to the address has as next hops (watchRoute).
type pathWatch struct {
	mu      sync.Mutex
	changes []pathChange
	cancel  context.CancelFunc
	done    chan struct{}
}

type pathChange struct {
	at    time.Time
	nodes []string // sorted; none when the client has no way to the address
}

// watchPath runs read against namespace ns every 10 ms and keeps every change of its answer.
func watchPath(ctx context.Context, ns string, read func(h *netlink.Handle) []string) (*pathWatch, error) {
	nsh, err := vnetns.GetFromPath(filepath.Join("/run/netns", ns))
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(nsh)
	_ = nsh.Close()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &pathWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer h.Close()
		for ctx.Err() == nil {
			nodes := read(h)
			slices.Sort(nodes)
			w.mu.Lock()
			if len(w.changes) == 0 || !slices.Equal(w.changes[len(w.changes)-1].nodes, nodes) {
				w.changes = append(w.changes, pathChange{at: time.Now(), nodes: nodes})
			}
			w.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return w, nil
}

// watchNeigh follows the client's neighbour (ARP) entry for addr in namespace ns, naming the
// node by its MAC (macs: MAC → node; an unknown MAC is named "mac <MAC>").
func watchNeigh(ctx context.Context, ns string, addr netip.Addr, macs map[string]string) (*pathWatch, error) {
	return watchPath(ctx, ns, func(h *netlink.Handle) []string {
		neighs, err := h.NeighList(0, netlink.FAMILY_V4)
		if err != nil {
			return nil
		}
		for _, n := range neighs {
			if a, ok := netip.AddrFromSlice(n.IP.To4()); ok && a == addr && len(n.HardwareAddr) > 0 {
				if node, ok := macs[n.HardwareAddr.String()]; ok {
					return []string{node}
				}
				return []string{"mac " + n.HardwareAddr.String()}
			}
		}
		return nil
	})
}

// watchRoute follows the route to addr/32 in the main table of namespace ns (the router's),
// naming its next hops by node (hops: address → node; an unknown one is named by its address).
func watchRoute(ctx context.Context, ns string, addr netip.Addr, hops map[netip.Addr]string) (*pathWatch, error) {
	dst := &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(addr.BitLen(), addr.BitLen())}
	return watchPath(ctx, ns, func(h *netlink.Handle) []string {
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
		if err != nil {
			return nil
		}
		var out []string
		name := func(ip net.IP) {
			if a, ok := netip.AddrFromSlice(ip.To4()); ok {
				out = append(out, cmp.Or(hops[a], a.String()))
			}
		}
		for _, r := range routes {
			if r.Gw != nil {
				name(r.Gw)
			}
			for _, nh := range r.MultiPath {
				name(nh.Gw)
			}
		}
		return out
	})
}

func (w *pathWatch) stop() { w.cancel(); <-w.done }

// current is the nodes the client's requests now reach (none if it has no way).
func (w *pathWatch) current() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.changes) == 0 {
		return nil
	}
	return w.changes[len(w.changes)-1].nodes
}

// has reports whether the client's requests now reach node.
func (w *pathWatch) has(node string) bool { return slices.Contains(w.current(), node) }

// leftAt is when, after t, the client's requests first stopped reaching node while reaching
// another (by ARP: the entry names another node; by BGP: the route lost node's next hop).
func (w *pathWatch) leftAt(t time.Time, node string) (time.Time, []string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.changes {
		if c.at.After(t) && len(c.nodes) > 0 && !slices.Contains(c.nodes, node) {
			return c.at, c.nodes, true
		}
	}
	return time.Time{}, nil, false
}

// movesFrom lists the changes that named a node other than node (each "at: nodes").
func (w *pathWatch) movesFrom(node string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.changes {
		if len(c.nodes) > 0 && !slices.Equal(c.nodes, []string{node}) {
			out = append(out, c.at.Format("15:04:05.000")+": "+strings.Join(c.nodes, ","))
		}
	}
	return out
}

// history lists the changes after t, each "15:04:05.000: nodes" ("none": the client had no way).
func (w *pathWatch) history(t time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.changes {
		if c.at.After(t) {
			out = append(out, c.at.Format("15:04:05.000")+": "+cmp.Or(strings.Join(c.nodes, ","), "none"))
		}
	}
	return out
}

// macOf is the hardware address of a namespace's eth0 (every LAN member's leg on the switch).
func macOf(ns string) (string, error) {
	var mac string
	err := netns.Do(ns, func() error {
		i, err := net.InterfaceByName("eth0")
		if err == nil {
			mac = i.HardwareAddr.String()
		}
		return err
	})
	return mac, err
}
