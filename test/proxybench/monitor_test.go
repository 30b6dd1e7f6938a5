//go:build netns && integration

package proxybench

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/test/netns"
)

// monitor timestamps, from outside the proxy, the moment each ClusterIP enters a table's
// service-ips map in one namespace's kernel: it runs `nft monitor new elements` there (line
// buffered, through stdbuf) and reads one line per element. Both proxies name the map
// service-ips, keyed by address . protocol . port.
type monitor struct {
	prefix string // "add element ip <table> service-ips { "

	mu      sync.Mutex
	seen    map[netip.Addr]time.Time // first arrival since the last reset
	lost    bool                     // nft reported lost netlink events
	changed chan struct{}            // closed and replaced on every arrival
}

func startMonitor(t testing.TB, ns *netns.NS, table string) *monitor {
	t.Helper()
	m := &monitor{
		prefix:  "add element ip " + table + " service-ips { ",
		seen:    map[netip.Addr]time.Time{},
		changed: make(chan struct{}),
	}
	cmd := ns.Command("stdbuf", "-oL", "nft", "monitor", "new", "elements")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("nft monitor in %s: %v", ns.Name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			m.line(sc.Text(), time.Now())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	// nft subscribes before it prints anything; give it a moment so that the first events of
	// the test are not missed (a missed one would only make a wait time out, never lie).
	time.Sleep(200 * time.Millisecond)
	return m
}

func (m *monitor) line(s string, at time.Time) {
	if strings.Contains(s, "lost") || strings.Contains(s, "ERROR") {
		m.mu.Lock()
		m.lost = true
		m.mu.Unlock()
		return
	}
	rest, ok := strings.CutPrefix(s, m.prefix)
	if !ok {
		return
	}
	ipText, _, _ := strings.Cut(rest, " ")
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return
	}
	m.mu.Lock()
	if _, dup := m.seen[ip]; !dup {
		m.seen[ip] = at
		close(m.changed)
		m.changed = make(chan struct{})
	}
	m.mu.Unlock()
}

// reset forgets every arrival, before a cold start.
func (m *monitor) reset() {
	m.mu.Lock()
	m.seen = map[netip.Addr]time.Time{}
	m.mu.Unlock()
}

// lostEvents reports whether nft said it lost netlink events (its receive buffer overflowed).
func (m *monitor) lostEvents() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// waitAll waits until every address in ips has arrived and returns the last arrival's time.
func (m *monitor) waitAll(ctx context.Context, ips []netip.Addr) (time.Time, error) {
	for {
		m.mu.Lock()
		var last time.Time
		missing := 0
		for _, ip := range ips {
			at, ok := m.seen[ip]
			if !ok {
				missing++
			} else if at.After(last) {
				last = at
			}
		}
		ch, lost := m.changed, m.lost
		m.mu.Unlock()
		if missing == 0 {
			return last, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d ClusterIPs never reached service-ips (nft lost events: %v): %w",
				missing, len(ips), lost, ctx.Err())
		}
	}
}
