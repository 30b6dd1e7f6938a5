//go:build netns

package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
)

// Network of the root tests: a node namespace routing between a client namespace and two
// endpoint namespaces, each on its own veth. The proxy runs in the test process; its nft and
// conntrack commands run inside the node namespace. Each IP family has its own plan of addresses
// on these links (kernelPlan); a network carries one family or both.
//
//	              IPv4                         IPv6
//	client ─ node 172.31.1.2 ─ 172.31.1.1      fd00:31:1::2 ─ fd00:31:1::1
//	ep1 ─ node    10.99.11.2 ─ 10.99.11.1      fd00:99:11::2 ─ fd00:99:11::1   (a "Pod" on this node)
//	ep2 ─ node    10.99.12.2 ─ 10.99.12.1      fd00:99:12::2 ─ fd00:99:12::1
//	Pod network   10.99.0.0/16                 fd00:99::/48
//	ClusterIPs    10.96.0.n                    fd00:96::n
//	LB ingress    203.0.113.n                  fd00:203::n
type kernelNet struct {
	node, client, ep1, ep2 *netnstest.NS
	plans                  []kernelPlan
	table                  string
	proxy                  *Proxy
	cancel                 context.CancelFunc
	done                   chan error
}

// kernelPlan is one IP family's addressing of the kernel network.
type kernelPlan struct {
	family                 v1.IPFamily
	bits                   int // prefix length of every link
	node, client           string
	ep1, ep2               string
	ep1Gateway, ep2Gateway string // the node's addresses on the endpoints' links
	podNet                 string
	svcBase, lbBase        string // ClusterIP and LoadBalancer-ingress addresses are these plus a number
}

var (
	ipv4Plan = kernelPlan{
		family: v1.IPv4Protocol, bits: 24,
		node: "172.31.1.1", client: "172.31.1.2",
		ep1: "10.99.11.2", ep2: "10.99.12.2", ep1Gateway: "10.99.11.1", ep2Gateway: "10.99.12.1",
		podNet: "10.99.0.0/16", svcBase: "10.96.0.", lbBase: "203.0.113.",
	}
	ipv6Plan = kernelPlan{
		family: v1.IPv6Protocol, bits: 64,
		node: "fd00:31:1::1", client: "fd00:31:1::2",
		ep1: "fd00:99:11::2", ep2: "fd00:99:12::2", ep1Gateway: "fd00:99:11::1", ep2Gateway: "fd00:99:12::1",
		podNet: "fd00:99::/32", svcBase: "fd00:96::", lbBase: "fd00:203::",
	}
)

// svc is ClusterIP number n of the plan, lb its LoadBalancer ingress IP number n.
func (p kernelPlan) svc(n int) string { return p.svcBase + strconv.Itoa(n) }
func (p kernelPlan) lb(n int) string  { return p.lbBase + strconv.Itoa(n) }

// ipFlag is the `ip` option that selects the plan's family.
func (p kernelPlan) ipFlag() string {
	if p.family == v1.IPv6Protocol {
		return "-6"
	}
	return "-4"
}

func (p kernelPlan) prefix(addr string) netip.Prefix {
	return netip.PrefixFrom(netip.MustParseAddr(addr), p.bits)
}

// hostPort joins an address of either family and a port for Dial.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

// eachFamily runs test once per IP family, each on a network of its own.
func eachFamily(t *testing.T, test func(t *testing.T, p kernelPlan)) {
	for _, p := range []kernelPlan{ipv4Plan, ipv6Plan} {
		t.Run(string(p.family), func(t *testing.T) { test(t, p) })
	}
}

// newKernelNet builds the namespaces and links, and addresses them in each plan's family.
func newKernelNet(t testing.TB, plans ...kernelPlan) *kernelNet {
	netnstest.RequireRoot(t, "ip", "nft", "conntrack")
	id := netnstest.RunID(t)
	k := &kernelNet{
		node: netnstest.New(t, id, "node"), client: netnstest.New(t, id, "cli"),
		ep1: netnstest.New(t, id, "ep1"), ep2: netnstest.New(t, id, "ep2"),
		table: "frontdesk" + id,
	}
	// The node's default route leads back out the client's link (address below); IPv4 redirects
	// for it would use up the ICMP rate-limit tokens the kernel then refuses the reject's
	// unreachable with. Set before the links exist: an interface takes the default when it is
	// made. IPv6 needs no counterpart: the kernel sends a redirect only towards a link-local next
	// hop, and the default route's is global.
	k.node.Sysctl("net.ipv4.conf.all.send_redirects", "0")
	k.node.Sysctl("net.ipv4.conf.default.send_redirects", "0")
	netnstest.Veth(k.node, "cli0", k.client, "eth0")
	netnstest.Veth(k.node, "ep10", k.ep1, "eth0")
	netnstest.Veth(k.node, "ep20", k.ep2, "eth0")
	for _, p := range plans {
		k.address(p)
	}
	return k
}

// address gives the links their addresses and routes in p's family and makes the node route it.
// (netnstest.New turned duplicate address detection off, so IPv6 addresses are usable at once.)
func (k *kernelNet) address(p kernelPlan) {
	for _, l := range []struct {
		peer           *netnstest.NS
		nodeIf         string
		nodeIP, peerIP string
	}{
		{k.client, "cli0", p.node, p.client},
		{k.ep1, "ep10", p.ep1Gateway, p.ep1},
		{k.ep2, "ep20", p.ep2Gateway, p.ep2},
	} {
		k.node.AddAddr(l.nodeIf, p.prefix(l.nodeIP))
		l.peer.AddAddr("eth0", p.prefix(l.peerIP))
		l.peer.IP(p.ipFlag(), "route", "add", "default", "via", l.nodeIP)
	}
	if p.family == v1.IPv6Protocol {
		k.node.Sysctl("net.ipv6.conf.all.forwarding", "1")
	} else {
		k.node.Sysctl("net.ipv4.ip_forward", "1")
	}
	// A default route, as every node has (the client plays the upstream router): without one,
	// traffic to an address the rules do not take is refused by routing (network unreachable)
	// before the proxy's filter chains see it.
	k.node.IP(p.ipFlag(), "route", "add", "default", "via", p.client)
	k.plans = append(k.plans, p)
}

// start runs the proxy for the node namespace until the test ends.
func (k *kernelNet) start(t *testing.T, tweak ...func(*Config)) {
	t.Helper()
	k.startWith(t, nil, tweak...)
}

// startWith is start with objs in the proxy's store before it runs, as a proxy with a client
// has its informers' first lists before it syncs: without a client, Run syncs at once, and a
// test feeding objects meanwhile would see a sync of some of them.
func (k *kernelNet) startWith(t *testing.T, objs []any, tweak ...func(*Config)) {
	t.Helper()
	p := k.build(t, tweak...)
	k.proxy = p
	k.feed(objs...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	k.proxy, k.cancel, k.done = p, cancel, done
	go func() {
		done <- p.Run(ctx)
		close(done) // later receives (stop, then the cleanup) get nil
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
}

// build makes a proxy for the node namespace without running it: tests that call Sync themselves.
func (k *kernelNet) build(t testing.TB, tweak ...func(*Config)) *Proxy {
	t.Helper()
	// knftables finds nft on PATH when it is created; this nft runs the real one inside the node
	// namespace, so the machine's own tables are never touched.
	realNFT, err := exec.LookPath("nft")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", k.node.Name, realNFT)
	if err := os.WriteFile(filepath.Join(bin, "nft"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		NodeName:      testNode,
		TableName:     k.table,
		MinSyncPeriod: 10 * time.Millisecond,
		Conntrack:     ExecConntrack{Prefix: []string{"ip", "netns", "exec", k.node.Name}},
		NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			return knftables.New(f, table)
		},
		Listen: k.node.Listen,
	}
	for _, p := range k.plans {
		cfg.IPFamilies = append(cfg.IPFamilies, p.family)
		cfg.ClusterCIDRs = append(cfg.ClusterCIDRs, netip.MustParsePrefix(p.podNet))
	}
	for _, tw := range tweak {
		tw(&cfg)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stop ends the running proxy, as a SIGTERM would; its rules stay in the kernel.
func (k *kernelNet) stop(t *testing.T) {
	t.Helper()
	k.cancel()
	if err := <-k.done; err != nil {
		t.Errorf("proxy: %v", err)
	}
}

// program feeds objects to the proxy and waits until they are in the kernel.
func (k *kernelNet) program(t *testing.T, objs ...any) {
	t.Helper()
	k.feed(objs...)
	if err := k.proxy.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// feed gives objects to the proxy's store.
func (k *kernelNet) feed(objs ...any) {
	for _, o := range objs {
		switch o := o.(type) {
		case *v1.Service:
			k.proxy.SetService(o)
		case deleted:
			k.proxy.DeleteService("default", string(o))
		default:
			k.proxy.store.setSlice(o.(*discovery.EndpointSlice))
		}
	}
}

type deleted string

// echo serves TCP and UDP on port 8080 inside ns: each connection or datagram is answered with
// "<name> <the peer's address>", which says who served and which source address it saw.
func echo(t testing.TB, ns *netnstest.NS, name string) {
	t.Helper()
	ln, err := ns.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ns.ListenPacket("udp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close(); _ = pc.Close() })
	go serveConns(ln, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		_, _ = fmt.Fprintf(c, "%s %s\n", name, host)
		// Keep the connection for clients that hold it open; they close it.
		_, _ = bufio.NewReader(c).ReadString('\n')
	})
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(name+" "+host), from)
		}
	}()
}

// serveConns hands each connection ln accepts to serve on its own goroutine and closes it after,
// until ln is closed.
func serveConns(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			serve(c)
		}()
	}
}

// ask connects from ns to addr over TCP and returns the echo's answer.
func ask(t testing.TB, ns *netnstest.NS, addr string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustAsk(t *testing.T, ns *netnstest.NS, addr string) string {
	t.Helper()
	got, err := ask(t, ns, addr)
	if err != nil {
		t.Fatalf("%s → %s: %v", ns.Name, addr, err)
	}
	return got
}

// TestKernelServices reaches Services over each IP family: ClusterIP, NodePort and LoadBalancer
// IP, the client address kept by externalTrafficPolicy Local, reject and drop, hairpin, session
// affinity and healthCheckNodePort.
func TestKernelServices(t *testing.T) {
	eachFamily(t, testKernelServices)
}

func testKernelServices(t *testing.T, p kernelPlan) {
	k := newKernelNet(t, p)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	e1 := ep{ip: p.ep1, node: testNode}
	e2 := ep{ip: p.ep2, node: testNode}
	remote := ep{ip: p.ep2, node: "node-b"} // served from this node's kernel, but "on" another node
	k.program(t,
		newService("web", clusterIP(p.svc(1)), nodePort(30080), loadBalancer(p.lb(10))),
		newSlice("web", "web-1", v1.ProtocolTCP, e1),
		newService("local", clusterIP(p.svc(2)), loadBalancer(p.lb(11)), externalLocal(32100)),
		newSlice("local", "local-1", v1.ProtocolTCP, e1),
		newService("nolocal", clusterIP(p.svc(3)), loadBalancer(p.lb(12)), externalLocal(32101)),
		newSlice("nolocal", "nolocal-1", v1.ProtocolTCP, remote),
		newService("empty", clusterIP(p.svc(4))),
		newService("sticky", clusterIP(p.svc(5)), affinity(60)),
		newSlice("sticky", "sticky-1", v1.ProtocolTCP, e1, e2),
		newService("both", clusterIP(p.svc(6))),
		newSlice("both", "both-1", v1.ProtocolTCP, e1, e2),
	)
	select {
	case <-k.proxy.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy never became ready")
	}
	masqueraded := "ep1 " + p.ep1Gateway // ep1 sees the node's address on its link
	for _, c := range []struct{ name, addr, want string }{
		{"ClusterIP", hostPort(p.svc(1), 80), masqueraded},
		{"NodePort", hostPort(p.node, 30080), masqueraded},
		{"LoadBalancer IP", hostPort(p.lb(10), 80), masqueraded},
		{"externalTrafficPolicy Local keeps the client address", hostPort(p.lb(11), 80), "ep1 " + p.client},
	} {
		if got := mustAsk(t, k.client, c.addr); got != c.want {
			t.Errorf("%s (%s): answered %q, want %q", c.name, c.addr, got, c.want)
		}
	}

	t.Run("reject without endpoints", func(t *testing.T) {
		start := time.Now()
		_, err := ask(t, k.client, hostPort(p.svc(4), 80))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("connecting to a Service without endpoints: %v, want connection refused", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the refusal took %s; a reject answers at once", d)
		}
	})
	t.Run("externalTrafficPolicy Local without a local endpoint drops", func(t *testing.T) {
		_, err := ask(t, k.client, hostPort(p.lb(12), 80))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("got %v, want a timeout (dropped, not rejected)", err)
		}
	})
	t.Run("externalTrafficPolicy Local without a local endpoint: Pods and the node reach every endpoint", func(t *testing.T) {
		// Not external clients: as with kube-proxy, they get the cluster-wide endpoints, a Pod
		// with its address kept, the node masqueraded.
		if got, want := mustAsk(t, k.ep1, hostPort(p.lb(12), 80)), "ep2 "+p.ep1; got != want {
			t.Errorf("a Pod: answered %q, want %q", got, want)
		}
		if got, want := mustAsk(t, k.node, hostPort(p.lb(12), 80)), "ep2 "+p.ep2Gateway; got != want {
			t.Errorf("the node: answered %q, want %q", got, want)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		if got := mustAsk(t, k.ep1, hostPort(p.svc(1), 80)); got != masqueraded {
			t.Errorf("ep1 reaching itself through its Service: %q, want %q", got, masqueraded)
		}
	})
	t.Run("session affinity", func(t *testing.T) {
		sticky := hostPort(p.svc(5), 80)
		first := mustAsk(t, k.client, sticky)
		for range 10 {
			if got := mustAsk(t, k.client, sticky); got != first {
				t.Fatalf("with ClientIP affinity a later connection went to %q, the first to %q", got, first)
			}
		}
		// Full syncs (the periodic resync, the retry after a failure) rewrite the table but must
		// keep the affinity sets' entries. Several, so that luck (one in two per sync) cannot
		// pass the test.
		for i := range 6 {
			k.proxy.store.markAll()
			if err := k.proxy.Sync(context.Background()); err != nil {
				t.Fatalf("full sync %d: %v", i, err)
			}
			if got := mustAsk(t, k.client, sticky); got != first {
				t.Fatalf("after full sync %d the affine client went to %q, before to %q", i, got, first)
			}
		}
		seen := map[string]bool{}
		for range 30 {
			seen[strings.Fields(mustAsk(t, k.client, hostPort(p.svc(6), 80)))[0]] = true
		}
		if len(seen) != 2 {
			t.Errorf("without affinity 30 connections reached %v, want both endpoints", seen)
		}
	})
	t.Run("healthCheckNodePort", func(t *testing.T) {
		for _, c := range []struct {
			port int
			want int
		}{{32100, 200}, {32101, 503}} {
			code := httpGet(t, k.client, "http://"+hostPort(p.node, c.port)+"/")
			if code != c.want {
				t.Errorf("healthCheckNodePort %d answered %d, want %d", c.port, code, c.want)
			}
		}
	})
}

// TestKernelDualStack: one Service with a ClusterIP of each family and endpoints of each family
// (one EndpointSlice per family, as the controller writes them) is reached over both families,
// on its ClusterIPs and on its NodePort, each family's traffic going to that family's endpoints.
func TestKernelDualStack(t *testing.T) {
	k := newKernelNet(t, ipv4Plan, ipv6Plan)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	dual := func(s *v1.Service) {
		s.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
		p := v1.IPFamilyPolicyRequireDualStack
		s.Spec.IPFamilyPolicy = &p
	}
	k.program(t,
		newService("web", clusterIP(ipv4Plan.svc(1), ipv6Plan.svc(1)), dual, nodePort(30080)),
		newSlice("web", "web-v4", v1.ProtocolTCP, ep{ip: ipv4Plan.ep1, node: testNode}, ep{ip: ipv4Plan.ep2, node: testNode}),
		newSlice("web", "web-v6", v1.ProtocolTCP, ep{ip: ipv6Plan.ep1, node: testNode}, ep{ip: ipv6Plan.ep2, node: testNode}),
	)
	for _, p := range []kernelPlan{ipv4Plan, ipv6Plan} {
		for _, addr := range []string{hostPort(p.svc(1), 80), hostPort(p.node, 30080)} {
			// Both endpoints must serve, each over this family: the masqueraded source is the
			// node's address of this family on the endpoint's link.
			want := map[string]bool{"ep1 " + p.ep1Gateway: true, "ep2 " + p.ep2Gateway: true}
			seen := map[string]bool{}
			for range 30 {
				got := mustAsk(t, k.client, addr)
				if !want[got] {
					t.Fatalf("%s answered %q, want one of %v", addr, got, want)
				}
				seen[got] = true
			}
			if len(seen) != len(want) {
				t.Errorf("30 connections to %s reached %v, want both endpoints", addr, seen)
			}
		}
	}
}

func httpGet(t *testing.T, ns *netnstest.NS, url string) int {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return ns.Dial(ctx, network, addr) },
	}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, ns.Name, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestKernelEndpointChange moves a Service from ep1 to ep2 while a TCP connection and a UDP flow
// are running: the TCP connection stays on ep1 (conntrack), new connections go to ep2, and the
// UDP flow, which has no end, moves to ep2 because its stale conntrack entry is removed.
func TestKernelEndpointChange(t *testing.T) {
	eachFamily(t, testKernelEndpointChange)
}

func testKernelEndpointChange(t *testing.T, p kernelPlan) {
	k := newKernelNet(t, p)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	e1 := ep{ip: p.ep1, node: testNode}
	e2 := ep{ip: p.ep2, node: testNode}
	f := openFlows(t, k, p, e1)
	web, held, sendUDP := f.web, f.held, f.sendUDP

	k.program(t, newSlice("web", "web-1", v1.ProtocolTCP, e2), newSlice("dns", "dns-1", v1.ProtocolUDP, e2))

	if got := mustAsk(t, k.client, web); !strings.HasPrefix(got, "ep2 ") {
		t.Errorf("a new connection after the change went to %q, want ep2", got)
	}
	if _, err := fmt.Fprintln(held, "still there?"); err != nil {
		t.Errorf("the established connection broke when its endpoint left the Service: %v", err)
	}
	if got, err := sendUDP(); err != nil || !strings.HasPrefix(got, "ep2 ") {
		t.Errorf("the running UDP flow after the change: %q, %v; want ep2 (stale conntrack entry removed)", got, err)
	}

	// Scaled to zero, the running UDP flow must stop reaching the old endpoint (k8s #139628).
	k.program(t, newSlice("dns", "dns-1", v1.ProtocolUDP))
	if got, err := sendUDP(); err == nil {
		t.Errorf("the UDP flow still reached %q after the Service lost every endpoint", got)
	}
}

// TestKernelNodePortAddressAdded: with NodePortAddresses, an address the node gains after the
// proxy started answers NodePorts within a few NodeAddressesPeriods, without a resync.
func TestKernelNodePortAddressAdded(t *testing.T) {
	eachFamily(t, testKernelNodePortAddressAdded)
}

func testKernelNodePortAddressAdded(t *testing.T, p kernelPlan) {
	k := newKernelNet(t, p)
	echo(t, k.ep1, "ep1")
	k.start(t, func(c *Config) {
		c.NodePortAddresses = []netip.Prefix{p.prefix(p.node).Masked()}
		c.NodeAddressesPeriod = 100 * time.Millisecond
		c.SyncPeriod = time.Hour // only the address check may bring the new address in
		c.LocalAddrs = func() (addrs []netip.Addr, err error) {
			err = k.node.Do(func() error { addrs, err = interfaceAddrs(); return err })
			return addrs, err
		}
	})
	k.program(t, newService("web", clusterIP(p.svc(1)), nodePort(30080)),
		newSlice("web", "web-1", v1.ProtocolTCP, ep{ip: p.ep1, node: testNode}))
	if got := mustAsk(t, k.client, hostPort(p.node, 30080)); !strings.HasPrefix(got, "ep1 ") {
		t.Fatalf("NodePort on the node's first address answered %q, want ep1", got)
	}
	// The node's address plus two, on the client's link.
	added := p.prefix(p.node).Addr().Next().Next().String()
	k.node.AddAddr("cli0", p.prefix(added))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ask(t, k.client, hostPort(added, 30080))
		if err == nil && strings.HasPrefix(got, "ep1 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after %s was added to the node, its NodePort answers %q, %v; want ep1", added, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flows is a held TCP connection to the ClusterIP Service "web" and a running UDP flow to "dns",
// both answered by one endpoint: what a change of endpoints must treat correctly.
type flows struct {
	web        string // the TCP Service's address
	held       net.Conn
	heldReader *bufio.Reader
	udp        net.Conn
}

// openFlows programs "web" (TCP) and "dns" (UDP) with the endpoint e1 alone, on the started
// proxy of k, and opens the two flows, checking that ep1 answers both.
func openFlows(t *testing.T, k *kernelNet, p kernelPlan, e1 ep) *flows {
	t.Helper()
	f := &flows{web: hostPort(p.svc(1), 80)}
	k.program(t,
		newService("web", clusterIP(p.svc(1))), newSlice("web", "web-1", v1.ProtocolTCP, e1),
		newService("dns", clusterIP(p.svc(10)), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, e1),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	if f.held, err = k.client.Dial(ctx, "tcp", f.web); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.held.Close() })
	f.heldReader = bufio.NewReader(f.held)
	if line, _ := f.heldReader.ReadString('\n'); !strings.HasPrefix(line, "ep1 ") {
		t.Fatalf("held connection answered %q, want ep1", line)
	}
	if f.udp, err = k.client.Dial(ctx, "udp", hostPort(p.svc(10), 80)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.udp.Close() })
	if got, err := f.sendUDP(); err != nil || !strings.HasPrefix(got, "ep1 ") {
		t.Fatalf("UDP before the change: %q, %v; want ep1", got, err)
	}
	return f
}

// sendUDP sends one datagram on the UDP flow and returns the answer.
func (f *flows) sendUDP() (string, error) {
	_ = f.udp.SetDeadline(time.Now().Add(time.Second))
	if _, err := f.udp.Write([]byte("q")); err != nil {
		return "", err
	}
	buf := make([]byte, 100)
	n, err := f.udp.Read(buf)
	return string(buf[:n]), err
}
