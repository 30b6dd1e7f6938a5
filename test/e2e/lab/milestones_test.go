//go:build netns && integration

package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/test/nftwatch"
)

// milestones records when each step of a new Service's path was first seen, from outside the
// components: the API server's watch (the address in the Service's status), each node's nftables
// (the node proxy's rule for the address), the LAN client's wire (the speaker's gratuitous ARP,
// and the client's own ARP requests). Breaking the time to the first request down this way does
// not trust the components' logs, and it shows which step a delay belongs to.
type milestones struct {
	mu     sync.Mutex
	alloc  map[string]allocSeen         // Service name → its address and when it appeared
	garp   map[netip.Addr]garpSeen      // the first gratuitous ARP for an address
	asked  map[netip.Addr]time.Time     // the LAN client's first ARP request for an address
	rules  map[string]*nftwatch.Watcher // node namespace → when each address's rule appeared
	macs   map[string]string            // a node interface's MAC → the node's namespace
	allocd chan struct{}                // poked at each new address in a status
	stops  []func()
}

type allocSeen struct {
	vip netip.Addr
	at  time.Time
}

type garpSeen struct {
	at  time.Time
	mac string
}

func newMilestones() *milestones {
	return &milestones{
		alloc: map[string]allocSeen{}, garp: map[netip.Addr]garpSeen{}, asked: map[netip.Addr]time.Time{},
		rules: map[string]*nftwatch.Watcher{}, macs: map[string]string{}, allocd: make(chan struct{}, 1),
	}
}

// stop ends every watcher and waits for them.
func (m *milestones) stop() {
	for i := len(m.stops) - 1; i >= 0; i-- {
		m.stops[i]()
	}
	m.stops = nil
}

// watchServices records when a Service of namespace default first shows an address in its status.
func (m *milestones) watchServices(t testing.TB, kube kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace("default"))
	inf := f.Core().V1().Services().Informer()
	record := func(obj any) {
		s, ok := obj.(*corev1.Service)
		if !ok || len(s.Status.LoadBalancer.Ingress) == 0 {
			return
		}
		vip, err := netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
		if err != nil {
			return
		}
		at := time.Now()
		m.mu.Lock()
		if _, seen := m.alloc[s.Name]; !seen {
			m.alloc[s.Name] = allocSeen{vip: vip, at: at}
		}
		m.mu.Unlock()
		select {
		case m.allocd <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: record, UpdateFunc: func(_, cur any) { record(cur) },
	}); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	m.stops = append(m.stops, func() { cancel(); f.Shutdown() })
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("the Service watch did not sync")
	}
}

// address waits for the address of Service name to appear in its status.
func (m *milestones) address(ctx context.Context, name string) (allocSeen, bool) {
	for {
		m.mu.Lock()
		a, ok := m.alloc[name]
		m.mu.Unlock()
		if ok {
			return a, true
		}
		select {
		case <-ctx.Done():
			return allocSeen{}, false
		case <-m.allocd:
		case <-time.After(100 * time.Millisecond): // a poke taken by an earlier Service's wait
		}
	}
}

// sniffARP records, from a packet socket in namespace ns (the LAN client's), the gratuitous ARP
// of each address and the client's own first request for it. Every frame is seen as it crosses
// the client's interface, in both directions: the kernel hands outgoing frames only to sockets
// of every protocol (ETH_P_ALL), so the socket takes all and keeps ARP.
func (m *milestones) sniffARP(t testing.TB, ns string, client netip.Addr) {
	t.Helper()
	var fd int
	err := netns.Do(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		t.Fatalf("packet socket in %s: %v", ns, err)
	}
	f := os.NewFile(uintptr(fd), "arp") // non-blocking: Close ends a pending Read
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			// An Ethernet header (14 bytes) whose EtherType is ARP.
			if n >= 14 && binary.BigEndian.Uint16(buf[12:14]) == unix.ETH_P_ARP {
				m.arp(buf[14:n], client, time.Now())
			}
		}
	}()
	m.stops = append(m.stops, func() { _ = f.Close(); <-done })
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arp records one ARP packet (without its Ethernet header).
func (m *milestones) arp(p []byte, client netip.Addr, at time.Time) {
	// Ethernet (1), IPv4 (0x0800), 6-byte MACs, 4-byte addresses: 28 bytes.
	if len(p) < 28 || binary.BigEndian.Uint16(p[0:2]) != 1 || binary.BigEndian.Uint16(p[2:4]) != 0x0800 || p[4] != 6 || p[5] != 4 {
		return
	}
	op := binary.BigEndian.Uint16(p[6:8])
	sha := net.HardwareAddr(bytes.Clone(p[8:14])).String()
	spa := netip.AddrFrom4([4]byte(p[14:18]))
	tpa := netip.AddrFrom4([4]byte(p[24:28]))
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case spa == tpa: // gratuitous, request or reply form
		if _, seen := m.garp[spa]; !seen {
			m.garp[spa] = garpSeen{at: at, mac: sha}
		}
	case op == 1 && spa == client:
		if _, seen := m.asked[tpa]; !seen {
			m.asked[tpa] = at
		}
	}
}

// watchRules records, for the node in namespace ns, when each address first appears in an element
// the node proxy adds to its service-ips map (test/nftwatch), and the MACs of the node's
// interfaces, to tell which node announced an address.
func (m *milestones) watchRules(t testing.TB, ns string) {
	t.Helper()
	err := netns.Do(ns, func() error {
		ifs, err := net.Interfaces()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, i := range ifs {
			if len(i.HardwareAddr) > 0 {
				m.macs[i.HardwareAddr.String()] = ns
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := nftwatch.Start(context.Background(), func(ctx context.Context, name string, args ...string) *exec.Cmd {
		argv := netns.Enter(ns, append([]string{name}, args...)...)
		return exec.CommandContext(ctx, argv[0], argv[1:]...)
	}, "")
	if err != nil {
		t.Fatalf("watching %s's rules: %v", ns, err)
	}
	m.mu.Lock()
	m.rules[ns] = w
	m.mu.Unlock()
	m.stops = append(m.stops, w.Stop)
}

// path is one Service's way to its first answer, each step counted from the Service's creation;
// a step that was not seen is -1.
type path struct {
	name string
	vip  netip.Addr
	node string // the namespace of the node whose gratuitous ARP came first
	// alloc: the address in the Service's status (the watch's event); asked: the LAN client's
	// first ARP request for it; rules: the announcing node's proxy rule for it; announce: the
	// first gratuitous ARP for it on the LAN; first: the first successful request.
	alloc, asked, rules, announce, first time.Duration
}

func (m *milestones) path(name string, created, answered time.Time) path {
	m.mu.Lock()
	defer m.mu.Unlock()
	since := func(t time.Time, ok bool) time.Duration {
		if !ok {
			return -1
		}
		return t.Sub(created)
	}
	p := path{name: name, first: answered.Sub(created), alloc: -1, asked: -1, rules: -1, announce: -1}
	a, ok := m.alloc[name]
	if !ok {
		return p
	}
	p.vip, p.alloc = a.vip, a.at.Sub(created)
	t, ok := m.asked[a.vip]
	p.asked = since(t, ok)
	g, ok := m.garp[a.vip]
	p.announce = since(g.at, ok)
	if ok {
		p.node = m.macs[g.mac]
		if w := m.rules[p.node]; w != nil {
			p.rules = since(w.Seen(a.vip))
		}
	}
	return p
}

func (p path) String() string {
	ms := func(d time.Duration) string {
		if d < 0 {
			return "unseen"
		}
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%s %s from %s: address %s, proxy rule %s, gratuitous ARP %s, first answer %s (client's first ARP request %s)",
		p.name, p.vip, p.node, ms(p.alloc), ms(p.rules), ms(p.announce), ms(p.first), ms(p.asked))
}

// pathsFile names the file BenchmarkLab writes every Service's path to, one line each (a
// benchmark's log is cut after a few lines); empty: not written.
var pathsFile = os.Getenv("LAB_BENCH_PATHS")

func writePaths(b *testing.B, paths []path) {
	if pathsFile == "" {
		return
	}
	var buf bytes.Buffer
	for _, p := range paths {
		fmt.Fprintln(&buf, p)
	}
	if err := os.WriteFile(pathsFile, buf.Bytes(), 0o644); err != nil {
		b.Error(err)
	}
}

// reportPaths reports the quantiles of each step over the Services: <step>-<q>-ms metrics.
func reportPaths(b *testing.B, paths []path) {
	series := map[string][]time.Duration{}
	early := 0
	for _, p := range paths {
		add := func(k string, d time.Duration) {
			if d >= 0 {
				series[k] = append(series[k], d)
			}
		}
		add("alloc", p.alloc)
		add("rules", p.rules)
		add("announce", p.announce)
		add("first-request", p.first)
		if p.announce >= 0 {
			add("announce-to-answer", p.first-p.announce)
		}
		if p.asked >= 0 && p.announce >= 0 && p.asked < p.announce {
			early++
		}
	}
	for _, k := range []string{"first-request", "alloc", "rules", "announce", "announce-to-answer"} {
		d := series[k]
		if len(d) < len(paths) {
			b.Logf("%s: seen for %d of %d Services; its quantiles are over those", k, len(d), len(paths))
		}
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		qs := []float64{0.5, 0.95}
		if k == "first-request" {
			qs = append(qs, 0.99)
		}
		for _, q := range qs {
			b.ReportMetric(msOf(quantile(d, q)), fmt.Sprintf("%s-p%d-ms", k, int(q*100)))
		}
		b.ReportMetric(msOf(d[len(d)-1]), k+"-max-ms")
	}
	// How many Services the client asked for before their announcement: the requests that a
	// client's neighbour cache could have held back, had the gratuitous ARP not updated it.
	b.ReportMetric(float64(early), "asked-before-announce")
}

// quantile is the nearest-rank q-quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
