//go:build linux

package nftwatch

import (
	"net/netip"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	w := &Watcher{table: "frontdesk", seen: map[netip.Addr]time.Time{}, changed: make(chan struct{}), probed: make(chan struct{})}
	t0 := time.Unix(1000, 0)
	changed := w.changed
	for i, l := range []string{
		"add element ip nftwatchprobe s { 192.0.2.1 }",
		"add element ip frontdesk service-ips { 10.96.0.1 . tcp . 443 : goto service-ABC-default/kubernetes/tcp/https }",
		"add element ip frontdesk service-ips { 10.96.0.10 . udp . 53 : goto service-X, 10.96.0.10 . tcp . 53 : goto service-Y }",
		"add element ip6 frontdesk service-ips { fd00:96::1 . tcp . 80 : goto service-Z }",
		"add element ip kube-proxy service-ips { 10.96.0.99 . tcp . 80 : goto service-K }", // another table
		"add element ip frontdesk no-endpoint-services { 10.96.0.77 . tcp . 80 : goto reject-chain }",
		"add element ip frontdesk service-ips { 10.96.0.1 . tcp . 80 : goto service-again }", // seen already
	} {
		w.line(l, t0.Add(time.Duration(i)*time.Second))
	}
	select {
	case <-w.probed:
	default:
		t.Error("the probe's element did not count as the monitor subscribed")
	}
	select {
	case <-changed:
	default:
		t.Error("no change signalled for new arrivals")
	}
	want := map[string]time.Duration{"10.96.0.1": 1, "10.96.0.10": 2, "fd00:96::1": 3}
	for a, at := range want {
		got, ok := w.Seen(netip.MustParseAddr(a))
		if !ok || !got.Equal(t0.Add(at*time.Second)) {
			t.Errorf("Seen(%s) = %v %v, want %v (its first arrival)", a, got, ok, t0.Add(at*time.Second))
		}
	}
	for _, a := range []string{"10.96.0.99", "10.96.0.77"} {
		if _, ok := w.Seen(netip.MustParseAddr(a)); ok {
			t.Errorf("%s seen: it is not in this table's service-ips", a)
		}
	}
	if w.Lost() {
		t.Error("lost before nft said so")
	}
	w.line("netlink: Error: lost 3 events", t0)
	if !w.Lost() {
		t.Error("nft's lost events not reported")
	}
	w.Reset()
	if _, ok := w.Seen(netip.MustParseAddr("10.96.0.1")); ok {
		t.Error("Reset kept an arrival")
	}
}
