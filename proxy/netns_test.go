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
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/test/netns"
)

// Network of the root tests: a node namespace routing between a client namespace and two
// endpoint namespaces, each on its own veth. The proxy runs in the test process; its nft and
// conntrack commands run inside the node namespace.
//
//	client  172.31.1.2/24 ── 172.31.1.1 node
//	ep1     10.99.11.2/24 ── 10.99.11.1 node     (a "Pod" on this node)
//	ep2     10.99.12.2/24 ── 10.99.12.1 node
//	Pod network 10.99.0.0/16; ClusterIPs 10.96.0.0/16; LoadBalancer IP 203.0.113.10
type kernelNet struct {
	node, client, ep1, ep2 *netns.NS
	table                  string
	proxy                  *Proxy
	cancel                 context.CancelFunc
	done                   chan error
}

const (
	nodeAddr   = "172.31.1.1"
	clientAddr = "172.31.1.2"
	ep1Addr    = "10.99.11.2"
	ep2Addr    = "10.99.12.2"
	ep1Gateway = "10.99.11.1"
	ep2Gateway = "10.99.12.1"
)

func newKernelNet(t testing.TB) *kernelNet {
	netns.RequireRoot(t, "ip", "nft", "conntrack")
	id := netns.RunID(t)
	k := &kernelNet{
		node: netns.New(t, id, "node"), client: netns.New(t, id, "cli"),
		ep1: netns.New(t, id, "ep1"), ep2: netns.New(t, id, "ep2"),
		table: "frontdesk" + id,
	}
	// The node's default route leads back out the client's link (below); redirects for it would
	// use up the ICMP rate-limit tokens the kernel then refuses the reject's unreachable with.
	k.node.Sysctl("net.ipv4.conf.all.send_redirects", "0")
	k.node.Sysctl("net.ipv4.conf.default.send_redirects", "0")
	link := func(peer *netns.NS, peerIf, nodeIf, nodeIP, peerIP string) {
		netns.Veth(k.node, nodeIf, peer, peerIf)
		k.node.AddAddr(nodeIf, netip.MustParsePrefix(nodeIP+"/24"))
		peer.AddAddr(peerIf, netip.MustParsePrefix(peerIP+"/24"))
		peer.IP("route", "add", "default", "via", nodeIP)
	}
	link(k.client, "eth0", "cli0", nodeAddr, clientAddr)
	link(k.ep1, "eth0", "ep10", ep1Gateway, ep1Addr)
	link(k.ep2, "eth0", "ep20", ep2Gateway, ep2Addr)
	k.node.Sysctl("net.ipv4.ip_forward", "1")
	// A default route, as every node has (the client plays the upstream router): without one,
	// traffic to an address the rules do not take is refused by routing (network unreachable)
	// before the proxy's filter chains see it.
	k.node.IP("route", "add", "default", "via", clientAddr)
	return k
}

// start runs the proxy for the node namespace until the test ends.
func (k *kernelNet) start(t *testing.T, tweak ...func(*Config)) {
	t.Helper()
	p := k.build(t, tweak...)
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
		ClusterCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")},
		IPFamilies:    []v1.IPFamily{v1.IPv4Protocol},
		TableName:     k.table,
		MinSyncPeriod: 10 * time.Millisecond,
		Conntrack:     ExecConntrack{Prefix: []string{"ip", "netns", "exec", k.node.Name}},
		NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			return knftables.New(f, table)
		},
		Listen: k.node.Listen,
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
	if err := k.proxy.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

type deleted string

// echo serves TCP and UDP on port 8080 inside ns: each connection or datagram is answered with
// "<name> <the peer's address>", which says who served and which source address it saw.
func echo(t testing.TB, ns *netns.NS, name string) {
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
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				_, _ = fmt.Fprintf(c, "%s %s\n", name, host)
				// Keep the connection for clients that hold it open; they close it.
				_, _ = bufio.NewReader(c).ReadString('\n')
			}()
		}
	}()
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

// ask connects from ns to addr over TCP and returns the echo's answer.
func ask(t testing.TB, ns *netns.NS, addr string) (string, error) {
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

func mustAsk(t *testing.T, ns *netns.NS, addr string) string {
	t.Helper()
	got, err := ask(t, ns, addr)
	if err != nil {
		t.Fatalf("%s → %s: %v", ns.Name, addr, err)
	}
	return got
}

func TestKernelServices(t *testing.T) {
	k := newKernelNet(t)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	e1 := ep{ip: ep1Addr, node: testNode}
	e2 := ep{ip: ep2Addr, node: testNode}
	remote := ep{ip: ep2Addr, node: "node-b"} // served from this node's kernel, but "on" another node
	k.program(t,
		newService("web", clusterIP("10.96.0.1"), nodePort(30080), loadBalancer("203.0.113.10")),
		newSlice("web", "web-1", v1.ProtocolTCP, e1),
		newService("local", clusterIP("10.96.0.2"), loadBalancer("203.0.113.11"), externalLocal(32100)),
		newSlice("local", "local-1", v1.ProtocolTCP, e1),
		newService("nolocal", clusterIP("10.96.0.3"), loadBalancer("203.0.113.12"), externalLocal(32101)),
		newSlice("nolocal", "nolocal-1", v1.ProtocolTCP, remote),
		newService("empty", clusterIP("10.96.0.4")),
		newService("sticky", clusterIP("10.96.0.5"), affinity(60)),
		newSlice("sticky", "sticky-1", v1.ProtocolTCP, e1, e2),
		newService("both", clusterIP("10.96.0.6")),
		newSlice("both", "both-1", v1.ProtocolTCP, e1, e2),
	)
	select {
	case <-k.proxy.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy never became ready")
	}
	masqueraded := "ep1 " + ep1Gateway // ep1 sees the node's address on its link
	for _, c := range []struct{ name, addr, want string }{
		{"ClusterIP", "10.96.0.1:80", masqueraded},
		{"NodePort", nodeAddr + ":30080", masqueraded},
		{"LoadBalancer IP", "203.0.113.10:80", masqueraded},
		{"externalTrafficPolicy Local keeps the client address", "203.0.113.11:80", "ep1 " + clientAddr},
	} {
		if got := mustAsk(t, k.client, c.addr); got != c.want {
			t.Errorf("%s (%s): answered %q, want %q", c.name, c.addr, got, c.want)
		}
	}

	t.Run("reject without endpoints", func(t *testing.T) {
		start := time.Now()
		_, err := ask(t, k.client, "10.96.0.4:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("connecting to a Service without endpoints: %v, want connection refused", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the refusal took %s; a reject answers at once", d)
		}

	})
	t.Run("externalTrafficPolicy Local without a local endpoint drops", func(t *testing.T) {
		_, err := ask(t, k.client, "203.0.113.12:80")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("got %v, want a timeout (dropped, not rejected)", err)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		if got := mustAsk(t, k.ep1, "10.96.0.1:80"); got != masqueraded {
			t.Errorf("ep1 reaching itself through its Service: %q, want %q", got, masqueraded)
		}
	})
	t.Run("session affinity", func(t *testing.T) {
		first := mustAsk(t, k.client, "10.96.0.5:80")
		for range 10 {
			if got := mustAsk(t, k.client, "10.96.0.5:80"); got != first {
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
			if got := mustAsk(t, k.client, "10.96.0.5:80"); got != first {
				t.Fatalf("after full sync %d the affine client went to %q, before to %q", i, got, first)
			}
		}
		seen := map[string]bool{}
		for range 30 {
			seen[strings.Fields(mustAsk(t, k.client, "10.96.0.6:80"))[0]] = true
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
			code := httpGet(t, k.client, fmt.Sprintf("http://%s:%d/", nodeAddr, c.port))
			if code != c.want {
				t.Errorf("healthCheckNodePort %d answered %d, want %d", c.port, code, c.want)
			}
		}
	})
}

func httpGet(t *testing.T, ns *netns.NS, url string) int {
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
	k := newKernelNet(t)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	e1 := ep{ip: ep1Addr, node: testNode}
	e2 := ep{ip: ep2Addr, node: testNode}
	k.program(t,
		newService("web", clusterIP("10.96.0.1")), newSlice("web", "web-1", v1.ProtocolTCP, e1),
		newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, e1),
	)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	held, err := k.client.Dial(ctx, "tcp", "10.96.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	heldReader := bufio.NewReader(held)
	if line, _ := heldReader.ReadString('\n'); !strings.HasPrefix(line, "ep1 ") {
		t.Fatalf("held connection answered %q, want ep1", line)
	}
	udp, err := k.client.Dial(ctx, "udp", "10.96.0.10:80")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = udp.Close() }()
	sendUDP := func() (string, error) {
		_ = udp.SetDeadline(time.Now().Add(time.Second))
		if _, err := udp.Write([]byte("q")); err != nil {
			return "", err
		}
		buf := make([]byte, 100)
		n, err := udp.Read(buf)
		return string(buf[:n]), err
	}
	if got, err := sendUDP(); err != nil || !strings.HasPrefix(got, "ep1 ") {
		t.Fatalf("UDP before the change: %q, %v; want ep1", got, err)
	}

	k.program(t, newSlice("web", "web-1", v1.ProtocolTCP, e2), newSlice("dns", "dns-1", v1.ProtocolUDP, e2))

	if got := mustAsk(t, k.client, "10.96.0.1:80"); !strings.HasPrefix(got, "ep2 ") {
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
	k := newKernelNet(t)
	echo(t, k.ep1, "ep1")
	k.start(t, func(c *Config) {
		c.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("172.31.1.0/24")}
		c.NodeAddressesPeriod = 100 * time.Millisecond
		c.SyncPeriod = time.Hour // only the address check may bring the new address in
		c.LocalAddrs = func() (addrs []netip.Addr, err error) {
			err = k.node.Do(func() error { addrs, err = interfaceAddrs(); return err })
			return addrs, err
		}
	})
	k.program(t, newService("web", clusterIP("10.96.0.1"), nodePort(30080)),
		newSlice("web", "web-1", v1.ProtocolTCP, ep{ip: ep1Addr, node: testNode}))
	if got := mustAsk(t, k.client, nodeAddr+":30080"); !strings.HasPrefix(got, "ep1 ") {
		t.Fatalf("NodePort on the node's first address answered %q, want ep1", got)
	}
	const added = "172.31.1.3"
	k.node.AddAddr("cli0", netip.MustParsePrefix(added+"/24"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ask(t, k.client, added+":30080")
		if err == nil && strings.HasPrefix(got, "ep1 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after %s was added to the node, its NodePort answers %q, %v; want ep1", added, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
