//go:build netns && integration

package speakers

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// floodFor is how long the heartbeat port is flooded.
const floodFor = 30 * time.Second

// A Pod on the flooded node: its own namespace behind a veth, as a CNI's bridge or veth plugin
// gives it, its traffic to the node's addresses delivered locally.
var podNodeSide = netip.MustParsePrefix("10.244.1.1/24")

// podAddrs are the flooding Pod's addresses, one source of the flood each: a budget per source
// address (speaker/liveness's admission) must not let many sources through together.
var podAddrs = func() (ps []netip.Prefix) {
	for i := range 8 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, 1, byte(2 + i)}), 24))
	}
	return ps
}()

// floodThreads is how many OS threads send the flood: sixteen per core here. The reader of an
// unfiltered speaker is one thread among them, so its share of the CPU, and the rate at which it
// makes room in its socket's queue, shrinks with their number.
const floodThreads = 32

// TestHeartbeatFlood (issue 17, item 6): a Pod floods one node's heartbeat port, at its
// InternalIP and at the node's address on the Pod network, with forged heartbeats in a peer's
// name (valid header, wrong MAC: each costs an unfiltered speaker an HMAC under its lock), from
// eight addresses on floodThreads threads (test/udpflood), for floodFor. Meanwhile the client
// asks every arpRound who has each address: never two answerers, never another answerer than
// before the flood.
//
// Before the fix the flooded node's kernel dropped its peers' heartbeats with the flood for a
// full socket queue, the node saw them dead and answered for their addresses beside them: here
// within three seconds of the flood's start, in every run. Two things make that reliable. The
// forged datagrams are exactly as long as a real heartbeat (forgedHeartbeat): the kernel queues
// a datagram only if its size in memory fits what is left of the socket's receive buffer, so a
// flood of larger datagrams leaves a remainder that the peers' smaller heartbeats slip into (with
// 1,200-byte datagrams, three million a second, 99% of them dropped, no peer ever looked dead). And the sender is a process of many threads, not two goroutines, so the old reader
// gets a small share of the CPU. The flood and what the flooded node's kernel and speaker made
// of it are logged. speaker/liveness's TestFloodDroppedBeforeTheMAC and TestSocketFilter* show
// each defence deterministically.
func TestHeartbeatFlood(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	vips := []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101"), netip.MustParseAddr("198.18.0.102")}
	for i, v := range vips {
		e.createService(ctx, fmt.Sprintf("flood-%d", i), v)
	}
	w := e.watchARP(vips...)
	// Flood a node that does not answer for the first address: if it took it, that is a second
	// answerer.
	target := (nodeIndex(e.announcersOf(ctx, vips[0])) + 1) % nodeCount
	victim := nodeName((target + 1) % nodeCount) // the peer whose name the forged datagrams carry

	pod := netnstest.New(t, netnstest.RunID(t), "pod")
	netnstest.Veth(e.nodes[target], "pod0", pod, "eth0")
	e.nodes[target].AddAddr("pod0", podNodeSide)
	for _, p := range podAddrs {
		pod.AddAddr("eth0", p)
	}
	pod.IP("route", "add", "default", "via", podNodeSide.Addr().String())

	dsts := []netip.AddrPort{netip.AddrPortFrom(nodeAddr(target).Addr(), 7473), netip.AddrPortFrom(podNodeSide.Addr(), 7473)}
	before, heardBefore := udpCounters(t, e.nodes[target]), e.livenessCounters(target)
	sent := flood(t, pod, dsts, forgedHeartbeat(victim), floodFor)
	after, heardAfter := udpCounters(t, e.nodes[target]), e.livenessCounters(target)
	t.Logf("flooded %s (%v) from a Pod for %v: %d datagrams, %.0f/s", nodeName(target), dsts, floodFor, sent, float64(sent)/floodFor.Seconds())
	t.Logf("meanwhile its kernel queued %d UDP datagrams for sockets and dropped %d for a full receive queue; its speaker accepted %d heartbeats (%d expected) and saw %d peer deaths",
		after["InDatagrams"]-before["InDatagrams"], after["RcvbufErrors"]-before["RcvbufErrors"],
		heardAfter.accepted-heardBefore.accepted, (nodeCount-1)*int(floodFor/liveness.DefaultInterval), heardAfter.deaths-heardBefore.deaths)
	if sent < uint64(floodFor.Seconds())*10000 {
		t.Errorf("the flood sent only %d datagrams in %v: not a flood", sent, floodFor)
	}
	// A little longer than a timeout after the flood: a split brain that the flood started
	// shows now too.
	time.Sleep(2 * time.Second)
	w.check(t)
}

// announcersOf returns the node IPAllocation status names as vip's announcer, waiting for one.
func (e *env) announcersOf(ctx context.Context, v netip.Addr) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := e.announcers(ctx, v); len(got) == 1 {
			return got[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("IPAllocation status of %v names %v, want one announcer", v, e.announcers(ctx, v))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forgedHeartbeat is a wire version 4 heartbeat (speaker/liveness/wire.go) from name, with a
// random MAC and an empty dead list: exactly as long as the heartbeats the flooded node's peers
// send, so that the flood, filling its socket's queue, leaves no room that a heartbeat would fit
// and a forged datagram would not. (Linux queues a UDP datagram only if its buffer's size fits
// what is left of the socket's receive buffer: __udp_enqueue_schedule_skb.)
func forgedHeartbeat(name string) []byte {
	b := append([]byte("FDLV"), 4, 0)
	for range 4 { // incarnation, sequence, nonce, echo
		b = binary.BigEndian.AppendUint64(b, 1)
	}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, make([]byte, 16)...) // boot ID: unknown
	b = append(b, 0)                   // an empty dead list
	mac := make([]byte, 32)
	_, _ = rand.Read(mac)
	return append(b, mac...)
}

// flood sends b to dsts from the Pod's namespace for d, from every address of podAddrs, on
// floodThreads OS threads of a process of its own (test/udpflood), and returns how many
// datagrams went out.
func flood(t *testing.T, pod *netnstest.NS, dsts []netip.AddrPort, b []byte, d time.Duration) uint64 {
	t.Helper()
	bin := filepath.Join(proc.Build(t, "./test/udpflood"), "udpflood")
	payload := filepath.Join(t.TempDir(), "heartbeat")
	if err := os.WriteFile(payload, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var from, to []string
	for _, p := range podAddrs {
		from = append(from, p.Addr().String())
	}
	for _, a := range dsts {
		to = append(to, a.String())
	}
	cmd := pod.Command(bin, "-payload="+payload, "-from="+strings.Join(from, ","), "-to="+strings.Join(to, ","),
		"-threads="+strconv.Itoa(floodThreads), "-for="+d.String())
	// Killed if the test dies first. Pdeathsig follows the thread that started the process, so
	// that thread must outlive it: no other goroutine may take it and end it (netns.Do does).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("udpflood: %v\n%s", err, stderr.String())
	}
	var sent uint64
	if _, err := fmt.Sscanf(string(out), "sent %d", &sent); err != nil {
		t.Fatalf("udpflood printed %q: %v", out, err)
	}
	return sent
}

// udpCounters reads the UDP counters of ns's kernel (/proc/net/snmp, per network namespace):
// InDatagrams, queued for a socket; RcvbufErrors, dropped for a full receive queue; and the rest.
func udpCounters(t *testing.T, ns *netnstest.NS) map[string]uint64 {
	t.Helper()
	var names []string
	got := map[string]uint64{}
	for l := range strings.Lines(ns.Exec("cat", "/proc/net/snmp")) {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				got[names[i]], _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	if len(got) == 0 {
		t.Fatalf("no Udp counters in %s's /proc/net/snmp", ns.Name)
	}
	return got
}

// heard is what a speaker's metrics say of its peers' heartbeats.
type heard struct{ accepted, deaths uint64 }

// livenessCounters reads node i's speaker's frontdesk_liveness_heartbeats_received_total and
// frontdesk_liveness_peer_deaths_total (all causes); zero for any it cannot read.
func (e *env) livenessCounters(i int) heard {
	out, _ := e.nodes[i].Command("curl", "-s", "--max-time", "2", "http://127.0.0.1:7472/metrics").Output()
	var h heard
	for l := range strings.Lines(string(out)) {
		name, value, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "frontdesk_liveness_heartbeats_received_total":
			h.accepted += uint64(v)
		case strings.HasPrefix(name, "frontdesk_liveness_peer_deaths_total{"):
			h.deaths += uint64(v)
		}
	}
	return h
}
