package proxy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// nodeAddrs stands in for the node's interfaces: the test changes them, the proxy lists them
// through Config.LocalAddrs.
type nodeAddrs struct {
	mu    sync.Mutex
	addrs []netip.Addr
	err   error
}

func (n *nodeAddrs) set(addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs = nil
	for _, a := range addrs {
		n.addrs = append(n.addrs, netip.MustParseAddr(a))
	}
}

func (n *nodeAddrs) fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

func (n *nodeAddrs) list() ([]netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.addrs), n.err
}

func newNodeAddrProxy(t *testing.T, addrs *nodeAddrs, tweak ...func(*Config)) *testProxy {
	t.Helper()
	return newTestProxy(t, append([]func(*Config){func(c *Config) {
		c.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("2001:db8::/64")}
		c.LocalAddrs = addrs.list
	}}, tweak...)...)
}

// nodePortIPs reads the nodeport-ips set out of a fake table, sorted.
func nodePortIPs(fake *knftables.Fake) []string {
	fake.RLock()
	defer fake.RUnlock()
	out := []string{}
	if fake.Table == nil || fake.Table.Sets[setNodePortIPs] == nil {
		return out
	}
	for _, e := range fake.Table.Sets[setNodePortIPs].Elements {
		out = append(out, strings.Join(e.Key, " . "))
	}
	slices.Sort(out)
	return out
}

// TestNodePortAddressesFollowTheNode: an address added to or removed from the node is added to
// or removed from nodeport-ips by a transaction touching that set only.
func TestNodePortAddressesFollowTheNode(t *testing.T) {
	addrs := &nodeAddrs{}
	addrs.set("192.168.0.10", "10.0.0.1", "127.0.0.1", "2001:db8::10")
	tp := newNodeAddrProxy(t, addrs)
	tp.apply(t, newService("svc", nodePort(30080)), newSlice("svc", "svc-1", v1.ProtocolTCP, remote1))
	v4, v6 := tp.fakes[knftables.IPv4Family], tp.fakes[knftables.IPv6Family]
	check := func(step string, want4, want6 []string) {
		t.Helper()
		if diff := cmp.Diff(want4, nodePortIPs(v4)); diff != "" {
			t.Errorf("%s: IPv4 nodeport-ips (-want +got):\n%s", step, diff)
		}
		if diff := cmp.Diff(want6, nodePortIPs(v6)); diff != "" {
			t.Errorf("%s: IPv6 nodeport-ips (-want +got):\n%s", step, diff)
		}
	}
	check("at start", []string{"192.168.0.10"}, []string{"2001:db8::10"})
	trace := func(dst string) []string {
		return newTracer(t, v4, knftables.IPv4Family, nodeIP).trace(tcp("172.16.0.5", dst, 30080))
	}

	// An address appears (DHCP, a new interface): only the IPv4 set changes.
	before6 := v6.LastTransaction
	addrs.set("192.168.0.10", "192.168.0.20", "10.0.0.1", "127.0.0.1", "2001:db8::10")
	if err := tp.refreshNodePortIPs(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("192.168.0.20 added", []string{"192.168.0.10", "192.168.0.20"}, []string{"2001:db8::10"})
	onlyNodePortIPs(t, v4.LastTransaction)
	if v6.LastTransaction != before6 {
		t.Errorf("an IPv4 address change sent an IPv6 transaction:\n%s", v6.LastTransaction)
	}
	if diff := cmp.Diff([]string{toRemote1 + masq}, trace("192.168.0.20")); diff != "" {
		t.Errorf("NodePort on the new address (-want +got):\n%s", diff)
	}

	// Nothing changed: no transaction at all.
	last4 := v4.LastTransaction
	if err := tp.refreshNodePortIPs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v4.LastTransaction != last4 {
		t.Errorf("listing unchanged addresses sent a transaction:\n%s", v4.LastTransaction)
	}

	// Addresses go, in both families.
	addrs.set("192.168.0.20", "10.0.0.1", "2001:db8::11")
	if err := tp.refreshNodePortIPs(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("192.168.0.10 and 2001:db8::10 replaced", []string{"192.168.0.20"}, []string{"2001:db8::11"})
	onlyNodePortIPs(t, v4.LastTransaction)
	onlyNodePortIPs(t, v6.LastTransaction)
	if diff := cmp.Diff([]string{"ACCEPT"}, trace("192.168.0.10")); diff != "" {
		t.Errorf("NodePort on a removed address (-want +got):\n%s", diff)
	}

	// A failed listing keeps the NodePorts where they are.
	addrs.fail(errors.New("netlink: injected"))
	if err := tp.refreshNodePortIPs(context.Background()); err == nil {
		t.Error("a failed listing was not reported")
	}
	check("listing failed", []string{"192.168.0.20"}, []string{"2001:db8::11"})
	addrs.fail(nil)

	// A full sync lays the skeleton with the current addresses, not those New found.
	tp.store.markAll()
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after a full sync", []string{"192.168.0.20"}, []string{"2001:db8::11"})
}

// onlyNodePortIPs fails unless tx only adds or deletes elements of nodeport-ips.
func onlyNodePortIPs(t *testing.T, tx *knftables.Transaction) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(tx.String()), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "add element") && !strings.HasPrefix(l, "delete element") ||
			!strings.Contains(l, " "+setNodePortIPs+" ") {
			t.Errorf("an address change sent more than nodeport-ips elements:\n%s", tx)
			return
		}
	}
}

// TestNodePortAddressesBeforeFirstSync: a change seen while a table still waits for its full
// sync is written by that sync, without a transaction of its own.
func TestNodePortAddressesBeforeFirstSync(t *testing.T) {
	addrs := &nodeAddrs{}
	addrs.set("192.168.0.10")
	tp := newNodeAddrProxy(t, addrs, func(c *Config) { c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol} })
	addrs.set("192.168.0.30")
	if err := tp.refreshNodePortIPs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tx := tp.fakes[knftables.IPv4Family].LastTransaction; tx != nil {
		t.Errorf("a table never written got a transaction:\n%s", tx)
	}
	tp.apply(t, newService("svc", nodePort(30080)))
	if diff := cmp.Diff([]string{"192.168.0.30"}, nodePortIPs(tp.fakes[knftables.IPv4Family])); diff != "" {
		t.Errorf("nodeport-ips after the first sync (-want +got):\n%s", diff)
	}
}

// TestNodePortAddressesFailureFallsBack: when updating the set fails, the table falls back to a
// full sync, which the loop runs and which writes the new addresses.
func TestNodePortAddressesFailureFallsBack(t *testing.T) {
	addrs := &nodeAddrs{}
	addrs.set("192.168.0.10")
	var nft *failingNFT
	tp := newNodeAddrProxy(t, addrs, func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) {
			nft = &failingNFT{Fake: knftables.NewFake(f, table)}
			return nft, nil
		}
	})
	tp.apply(t, newService("svc", nodePort(30080)))
	addrs.set("192.168.0.40")
	nft.fail = 1
	if err := tp.refreshNodePortIPs(context.Background()); err == nil {
		t.Fatal("a failed transaction was not reported")
	}
	if !tp.tables[0].needFull {
		t.Fatal("a failed nodeport-ips update did not ask for a full sync")
	}
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"192.168.0.40"}, nodePortIPs(nft.Fake)); diff != "" {
		t.Errorf("nodeport-ips after the fallback full sync (-want +got):\n%s", diff)
	}
}

// TestLoopRefreshesNodePortAddresses: the running proxy notices a new address within a few
// NodeAddressesPeriods. It runs in a synctest bubble, so "a few periods" is fake time and exact.
func TestLoopRefreshesNodePortAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = 20 * time.Millisecond
		addrs := &nodeAddrs{}
		addrs.set("192.168.0.10")
		tp := newNodeAddrProxy(t, addrs, func(c *Config) {
			c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
			c.NodeAddressesPeriod = period
		})
		tp.runInBackground(t)
		tp.SetService(newService("svc", nodePort(30080)))
		<-tp.Ready()
		addrs.set("192.168.0.10", "192.168.0.50")
		want := []string{"192.168.0.10", "192.168.0.50"}
		added := time.Now()
		for !slices.Equal(nodePortIPs(tp.fakes[knftables.IPv4Family]), want) {
			if time.Since(added) > 2*period {
				t.Fatalf("nodeport-ips is %v two NodeAddressesPeriods (%v) after the address was added, want %v",
					nodePortIPs(tp.fakes[knftables.IPv4Family]), period, want)
			}
			time.Sleep(time.Millisecond)
		}
	})
}
