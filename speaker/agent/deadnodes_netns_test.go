//go:build netns

package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
	"sigs.k8s.io/knftables"

	"golang.org/x/sys/unix"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/deadnodes"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// deadNodeNet: this node (node-a: the node proxy and its speaker's liveness), a client, and two
// other nodes, each one namespace holding that node's speaker socket and its Pod (an echo on
// :8080), so that cutting a node's link kills both at once, as a power-off does.
//
//	client 172.31.1.2 ─ node-a 172.31.1.1
//	node-b 10.99.11.2 ─ node-a 10.99.11.1     node-c 10.99.12.2 ─ node-a 10.99.12.1
//	ClusterIP 10.96.0.1:80 → 10.99.11.2:8080 (node-b), 10.99.12.2:8080 (node-c)
type deadNodeNet struct {
	a, client, b, c *netnstest.NS
	proxy           *proxy.Proxy
	mems            map[string]*liveness.Membership
}

var dnKey = []byte("0123456789abcdef0123456789abcdef")

func newDeadNodeNet(tb testing.TB, ctx context.Context, exclude bool) *deadNodeNet {
	netnstest.RequireRoot(tb, "ip", "nft", "conntrack")
	id := netnstest.RunID(tb)
	n := &deadNodeNet{a: netnstest.New(tb, id, "a"), client: netnstest.New(tb, id, "cli"), b: netnstest.New(tb, id, "b"),
		c: netnstest.New(tb, id, "c"), mems: map[string]*liveness.Membership{}}
	n.a.Sysctl("net.ipv4.ip_forward", "1")
	for _, l := range []struct {
		peer        *netnstest.NS
		aIf         string
		aIP, peerIP string
	}{{n.client, "cli0", "172.31.1.1", "172.31.1.2"}, {n.b, "b0", "10.99.11.1", "10.99.11.2"}, {n.c, "c0", "10.99.12.1", "10.99.12.2"}} {
		netnstest.Veth(n.a, l.aIf, l.peer, "eth0")
		n.a.AddAddr(l.aIf, netip.MustParsePrefix(l.aIP+"/24"))
		l.peer.AddAddr("eth0", netip.MustParsePrefix(l.peerIP+"/24"))
		l.peer.IP("route", "add", "default", "via", l.aIP)
	}
	n.a.IP("route", "add", "default", "via", "172.31.1.2")
	for _, ns := range []*netnstest.NS{n.b, n.c} {
		dnEcho(tb, ns)
	}
	// Liveness: node-a listens on all its addresses; each peer knows it by the address on its link.
	addrs := map[string]map[string]string{
		"node-a": {"node-b": "10.99.11.2", "node-c": "10.99.12.2"},
		"node-b": {"node-a": "10.99.11.1", "node-c": "10.99.12.2"},
		"node-c": {"node-a": "10.99.12.1", "node-b": "10.99.11.2"},
	}
	listen := map[string]struct {
		ns   *netnstest.NS
		addr string
	}{"node-a": {n.a, "0.0.0.0"}, "node-b": {n.b, "10.99.11.2"}, "node-c": {n.c, "10.99.12.2"}}
	var wg sync.WaitGroup
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		l := listen[name]
		conn, err := l.ns.ListenPacket("udp", l.addr+":7473")
		if err != nil {
			tb.Fatal(err)
		}
		m, err := liveness.New(liveness.Config{NodeName: name, Key: dnKey, Conn: conn})
		if err != nil {
			tb.Fatal(err)
		}
		peers := map[string]netip.AddrPort{}
		for p, a := range addrs[name] {
			peers[p] = netip.MustParseAddrPort(a + ":7473")
		}
		if err := m.SetPeers(peers); err != nil {
			tb.Fatal(err)
		}
		n.mems[name] = m
		wg.Go(func() { _ = m.Run(ctx) })
	}
	tb.Cleanup(wg.Wait)

	realNFT, err := exec.LookPath("nft")
	if err != nil {
		tb.Fatal(err)
	}
	bin := tb.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", n.a.Name, realNFT)
	if err := os.WriteFile(filepath.Join(bin, "nft"), []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	p, err := proxy.New(ctx, proxy.Config{
		NodeName: "node-a", IPFamilies: []v1.IPFamily{v1.IPv4Protocol}, TableName: "frontdesk" + id,
		Conntrack: proxy.ExecConntrack{Prefix: []string{"ip", "netns", "exec", n.a.Name}},
		NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
			old := os.Getenv("PATH")
			_ = os.Setenv("PATH", bin+":"+old)
			defer func() { _ = os.Setenv("PATH", old) }()
			return knftables.New(f, table)
		},
		Listen: n.a.Listen,
	})
	if err != nil {
		tb.Fatal(err)
	}
	n.proxy = p
	port, pname, proto := int32(8080), "http", v1.ProtocolTCP
	p.SetService(&v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: v1.ServiceSpec{
		ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
		Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}})
	es := &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1",
		Labels: map[string]string{discovery.LabelServiceName: "web"}}, AddressType: discovery.AddressTypeIPv4,
		Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
	for _, e := range []struct{ ip, node string }{{"10.99.11.2", "node-b"}, {"10.99.12.2", "node-c"}} {
		ready, node := true, e.node
		es.Endpoints = append(es.Endpoints, discovery.Endpoint{Addresses: []string{e.ip}, NodeName: &node,
			Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	p.SetEndpointSlice(es)
	var pwg sync.WaitGroup
	pwg.Go(func() { _ = p.Run(ctx) })
	tb.Cleanup(pwg.Wait)
	if exclude {
		pwg.Go(func() {
			runDeadNodes(ctx, n.mems["node-a"], p, nil, deadnodes.Config{}, klog.Background())
		})
	}
	select {
	case <-p.Ready():
	case <-time.After(20 * time.Second):
		tb.Fatal("the proxy was not ready within 20 s")
	}
	return n
}

func dnEcho(tb testing.TB, ns *netnstest.NS) {
	ln, err := ns.Listen("tcp", ":8080")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "%s\n", ns.Name)
			_ = c.Close()
		}
	}()
}

// request opens a new connection to the ClusterIP from the client namespace and reads the
// answer, within timeout, and says how long it took. Each request has an OS thread of its own in
// the namespace (netnstest.NS.Dial runs every dial on one thread, so that a dial hanging on the dead
// Pod would hold up the next ones and make live requests look slow).
func (n *deadNodeNet) request(timeout time.Duration) (ok bool, took time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread leaves the namespace by exiting with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + n.client.Name)
		if err != nil {
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		_ = f.Close()
		if err != nil {
			return
		}
		start := time.Now()
		defer func() { took = time.Since(start) }()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", "10.96.0.1:80")
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(start.Add(timeout))
		_, err = bufio.NewReader(c).ReadString('\n')
		ok = err == nil
	}()
	<-done
	return ok, took
}

// whoServes makes one request and returns the answering namespace's name.
func (n *deadNodeNet) whoServes(timeout time.Duration) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := n.client.Dial(ctx, "tcp", "10.96.0.1:80")
	if err != nil {
		return "", false
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err == nil
}

// slowRequest: a request that took this long met the dead Pod first and was saved by a SYN
// retransmission after the exclusion (the kernel's first one is 1 s after the SYN).
const slowRequest = 300 * time.Millisecond

// deadNodeTrial kills node-b (its link: its speaker and its Pod at once) while a client opens a
// connection every 20 ms (2 s timeout each), and returns, of the requests sent after the kill,
// those that failed, those that succeeded only after slowRequest (a SYN retransmission), and the
// time from the kill to the sending of the last failed or slow one.
func deadNodeTrial(tb testing.TB, exclude bool, window time.Duration) (failed, slow, total int, lastBad time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := newDeadNodeNet(tb, ctx, exclude)
	n.waitAlive(tb)
	return n.cutAndMeasure(window)
}

// waitAlive waits until every speaker hears the others (each heartbeat echoes the other's nonce).
func (n *deadNodeNet) waitAlive(tb testing.TB) {
	deadline := time.Now().Add(10 * time.Second)
	up := func() bool {
		return n.mems["node-a"].IsAlive("node-b") && n.mems["node-a"].IsAlive("node-c") && n.mems["node-b"].IsAlive("node-c")
	}
	for !up() {
		if time.Now().After(deadline) {
			tb.Fatal("the speakers did not see each other alive within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cutAndMeasure is deadNodeTrial once the speakers are up.
func (n *deadNodeNet) cutAndMeasure(window time.Duration) (failed, slow, total int, lastBad time.Duration) {
	time.Sleep(time.Second) // random phase of the kill against the heartbeats
	type result struct {
		at, took time.Duration
		ok       bool
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	kill := time.Now()
	n.b.IP("link", "set", "eth0", "down")
	for time.Since(kill) < window {
		<-tick.C
		at := time.Since(kill)
		wg.Go(func() {
			ok, took := n.request(2 * time.Second)
			mu.Lock()
			results = append(results, result{at, took, ok})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b result) int { return int(a.at - b.at) })
	for _, r := range results {
		switch {
		case !r.ok:
			failed++
		case r.took > slowRequest:
			slow++
		default:
			continue
		}
		lastBad = r.at
	}
	return failed, slow, len(results), lastBad
}

// TestDeadNodeExclusionKernel: three speakers' liveness and the real node proxy; node-b's link is
// cut (its speaker and Pod die at once). No request fails, and none sent more than 2.5 s after the
// cut meets the dead Pod (generous: detection is 0.8 s); when the link comes back node-b's Pod
// serves again after ReturnAfter (3 s).
func TestDeadNodeExclusionKernel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := newDeadNodeNet(t, ctx, true)
	n.waitAlive(t)
	failed, slow, total, lastBad := n.cutAndMeasure(3 * time.Second)
	t.Logf("%d requests: %d failed, %d slower than %s, the last of those sent %s after the cut", total, failed, slow, slowRequest, lastBad)
	if failed > 0 || lastBad > 2500*time.Millisecond {
		t.Errorf("%d failed; last failed or slow request sent %s after the cut; want none failed and none after 2.5 s", failed, lastBad)
	}
	n.b.IP("link", "set", "eth0", "up")
	n.b.IP("route", "add", "default", "via", "10.99.11.1") // the link going down took it away
	deadline := time.Now().Add(15 * time.Second)
	for {
		served := map[string]int{}
		for range 20 {
			if who, ok := n.whoServes(time.Second); ok {
				served[who]++
			}
		}
		if served[n.b.Name] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-b's Pod got no request within 15 s of its link coming back (served: %v)", served)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkDeadNodeExclusion measures what a node's death costs a client of a Service with one
// Pod on the dead node and one on a live one, with the exclusion on and off, in the kernel:
// three real liveness memberships, the real node proxy and its rules, no Kubernetes (so with the
// exclusion off nothing ever takes the dead Pod out: the failures last the whole window, where
// Kubernetes would end them after its ~50 s grace period). Not in make test:
//
//	go test -tags netns -run '^$' -bench DeadNodeExclusion -benchtime 1x ./speaker/agent/
//
// FRONTDESK_DEADNODE_TRIALS sets the trials per mode (default 3), each with fresh namespaces.
func BenchmarkDeadNodeExclusion(b *testing.B) {
	trials := 3
	if s := os.Getenv("FRONTDESK_DEADNODE_TRIALS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			trials = v
		}
	}
	const window = 6 * time.Second
	for _, exclude := range []bool{true, false} {
		name := map[bool]string{true: "exclusion-on", false: "exclusion-off"}[exclude]
		b.Run(name, func(b *testing.B) {
			var fails, slows []int
			var lasts []time.Duration
			var sent int
			for range b.N * trials {
				f, sl, total, last := deadNodeTrial(b, exclude, window)
				fails, slows, lasts, sent = append(fails, f), append(slows, sl), append(lasts, last), sent+total
				b.Logf("%s: of %d requests, %d failed and %d took > %s; the last of those sent %s after the kill",
					name, total, f, sl, slowRequest, last.Round(time.Millisecond))
			}
			slices.Sort(fails)
			slices.Sort(slows)
			slices.Sort(lasts)
			b.ReportMetric(float64(fails[len(fails)/2]), "failed-p50")
			b.ReportMetric(float64(fails[len(fails)-1]), "failed-max")
			b.ReportMetric(float64(slows[len(slows)/2]), "slow-p50")
			b.ReportMetric(lasts[len(lasts)/2].Seconds(), "last-bad-p50-s")
			b.ReportMetric(lasts[len(lasts)-1].Seconds(), "last-bad-max-s")
			b.ReportMetric(float64(sent)/float64(len(fails)), "requests/trial")
		})
	}
}
