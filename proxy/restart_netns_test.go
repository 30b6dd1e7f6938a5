//go:build netns

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
)

// TestKernelRestartKeepsConnections: established connections through a ClusterIP and a
// LoadBalancer IP keep flowing while the proxy is down and after a new one has rewritten the table
// (a full sync that flushes and refills every chain in one transaction, never deleting the table),
// and the new proxy serves new connections. A restart (an upgrade, a crash) must drop no one.
func TestKernelRestartKeepsConnections(t *testing.T) {
	k := newKernelNet(t, ipv4Plan)
	chatty(t, k.ep1, "ep1")
	k.start(t)
	k.program(t,
		newService("web", clusterIP("10.96.0.1"), loadBalancer("203.0.113.10")),
		newSlice("web", "web-1", v1.ProtocolTCP, ep{ip: ipv4Plan.ep1, node: testNode}),
	)
	var convs []*conversation
	for _, addr := range []string{"10.96.0.1:80", "203.0.113.10:80"} {
		c := converse(t, k.client, addr)
		c.say(t, "before the restart")
		convs = append(convs, c)
	}

	k.stop(t)
	for _, c := range convs {
		c.say(t, "while no proxy runs")
	}

	k.start(t)
	k.program(t,
		newService("web", clusterIP("10.96.0.1"), loadBalancer("203.0.113.10")),
		newSlice("web", "web-1", v1.ProtocolTCP, ep{ip: ipv4Plan.ep1, node: testNode}),
	)
	select {
	case <-k.proxy.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the new proxy never became ready")
	}
	for _, c := range convs {
		c.say(t, "after the new proxy rewrote the table")
	}
	for _, addr := range []string{"10.96.0.1:80", "203.0.113.10:80"} {
		converse(t, k.client, addr).say(t, "a new connection")
	}
}

// TestKernelRestartNeverUnserves: a proxy restarting over a table that serves 30 Services, with
// transactions of at most 5 Services for cold starts, rewrites the table without a moment where a
// Service is missing from service-ips: checked in the kernel after each of its transactions.
func TestKernelRestartNeverUnserves(t *testing.T) {
	k := newKernelNet(t, ipv4Plan)
	const n = 30
	var objs []any
	for i := range n {
		name := fmt.Sprintf("s%02d", i)
		objs = append(objs, newService(name, clusterIP(fmt.Sprintf("10.96.5.%d", i))),
			newSlice(name, name, v1.ProtocolTCP, ep{ip: ipv4Plan.ep1, node: testNode}))
	}
	small := func(c *Config) { c.ColdStartChunk = 5 }
	k.start(t, small)
	k.program(t, objs...)
	k.stop(t)

	var checked int
	k.startWith(t, objs, small, func(c *Config) {
		inner := c.NFTables
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
			nft, err := inner(f, table)
			return &afterRun{Interface: nft, after: func() {
				out, err := k.node.Command("nft", "list", "map", "ip", k.table, mapServiceIPs).CombinedOutput()
				if err != nil {
					t.Errorf("listing %s: %v: %s", mapServiceIPs, err, out)
				}
				if got := countGotos(out); got != n {
					t.Errorf("after transaction %d of the restart, %s holds %d Services, want %d", checked+1, mapServiceIPs, got, n)
				}
				checked++
			}}, err
		}
	})
	k.program(t, objs...)
	if checked == 0 {
		t.Fatal("the restarted proxy sent no transaction")
	}
}

// afterRun calls after once each transaction is in the kernel.
type afterRun struct {
	knftables.Interface
	after func()
}

func (a *afterRun) Run(ctx context.Context, tx *knftables.Transaction) error {
	err := a.Interface.Run(ctx, tx)
	if err == nil {
		a.after()
	}
	return err
}

// chatty serves TCP on port 8080 inside ns and answers every line with "<name> <line>", for as
// long as the client keeps the connection.
func chatty(t testing.TB, ns *netnstest.NS, name string) {
	t.Helper()
	ln, err := ns.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveConns(ln, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(c, "%s %s", name, line); err != nil {
				return
			}
		}
	})
}

// conversation is one TCP connection to a chatty server.
type conversation struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func converse(t *testing.T, ns *netnstest.NS, addr string) *conversation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &conversation{addr: addr, c: c, r: bufio.NewReader(c)}
}

// say sends a line and expects the endpoint's answer on the same connection.
func (c *conversation) say(t *testing.T, what string) {
	t.Helper()
	_ = c.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c.c, what); err != nil {
		t.Fatalf("%s, %s: sending: %v", c.addr, what, err)
	}
	got, err := c.r.ReadString('\n')
	if want := "ep1 " + what; err != nil || strings.TrimSpace(got) != want {
		t.Fatalf("%s, %s: answered %q, %v; want %q", c.addr, what, strings.TrimSpace(got), err, want)
	}
}
