//go:build linux

// Package nftwatch timestamps, from outside a node proxy, the moment each address first enters a
// service-ips map in one network namespace's kernel. Both frontdesk's proxy and kube-proxy's
// nftables mode keep their Service addresses in a map of that name, keyed by address, protocol
// and port; `nft monitor` prints every element as its transaction commits, so the time a line is
// read is when the kernel started forwarding that address (plus the pipe's delay, well under a
// millisecond). The proxy benchmarks (test/proxybench) and the lab's first-request milestones
// (test/e2e/lab) both read it.
package nftwatch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Command makes a command that runs name with args inside the watched network namespace.
type Command func(ctx context.Context, name string, args ...string) *exec.Cmd

// probeTable is the table Start adds and deletes to see its monitor subscribed; probeAdd makes
// it with one element (a documentation address, in a set nothing refers to).
const (
	probeTable = "nftwatchprobe"
	probeAdd   = "add table ip " + probeTable + "; add set ip " + probeTable + " s { type ipv4_addr; }; " +
		"add element ip " + probeTable + " s { 192.0.2.1 }"
)

// Watcher follows one namespace's service-ips maps. Its methods are safe for concurrent use.
type Watcher struct {
	table string // only this table's map; "" for any table

	mu      sync.Mutex
	seen    map[netip.Addr]time.Time // first arrival since Start or the last Reset
	lost    bool                     // nft reported lost netlink events or an error
	changed chan struct{}            // closed and replaced on every new arrival
	probed  chan struct{}            // closed when the probe's element is read

	cancel context.CancelFunc
	done   chan struct{}
	cmd    *exec.Cmd
}

// Start runs `nft monitor new elements` through command and returns once the monitor has
// provably subscribed: it adds a table of its own with a one-element set, and deletes it, until
// the monitor prints the element (10 s at most), so that no element committed after Start
// returns can go unseen. Only elements are printed: a cold start of 10k Services also adds tens
// of thousands of chains and rules, which nft would otherwise decode and print too, lagging
// behind and risking lost events. table restricts the
// watch to one table's map ("" for any). Stop ends it.
func Start(ctx context.Context, command Command, table string) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{table: table, seen: map[netip.Addr]time.Time{}, changed: make(chan struct{}),
		probed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	// Line buffered: nft's stdout to a pipe is block buffered, which would hold lines back.
	w.cmd = command(ctx, "stdbuf", "-oL", "nft", "monitor", "new", "elements")
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	w.cmd.Stderr = w.cmd.Stdout
	// The monitor dies with the test binary, however it ends.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("nft monitor: %w", err)
	}
	go w.read(out)
	for try := 0; ; try++ {
		for _, script := range []string{probeAdd, "delete table ip " + probeTable} {
			if out, err := command(ctx, "nft", script).CombinedOutput(); err != nil {
				w.Stop()
				return nil, fmt.Errorf("nft %q: %w\n%s", script, err, out)
			}
		}
		select {
		case <-w.probed:
			return w, nil
		case <-w.done:
			w.Stop()
			return nil, fmt.Errorf("nft monitor exited before it printed anything")
		case <-time.After(200 * time.Millisecond):
			if try == 49 {
				w.Stop()
				return nil, fmt.Errorf("nft monitor printed no change in 10 s")
			}
		}
	}
}

func (w *Watcher) read(out io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		w.line(sc.Text(), time.Now())
	}
}

// line takes one line of nft monitor read at at.
func (w *Watcher) line(s string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case strings.HasPrefix(s, "add element ip "+probeTable+" "):
		select {
		case <-w.probed:
		default:
			close(w.probed)
		}
		return
	case strings.Contains(s, "lost") || strings.Contains(s, "ERROR"):
		w.lost = true
		return
	}
	rest, ok := strings.CutPrefix(s, "add element ")
	if !ok {
		return
	}
	// "<family> <table> service-ips { <addr> . tcp . 80 : goto ..., <addr> . ... }"
	f := strings.Fields(rest)
	if len(f) < 4 || f[2] != "service-ips" || f[3] != "{" || (w.table != "" && f[1] != w.table) {
		return
	}
	grew := false
	for _, tok := range f[4:] {
		a, err := netip.ParseAddr(strings.TrimSuffix(tok, ","))
		if err != nil {
			continue
		}
		if _, dup := w.seen[a]; !dup {
			w.seen[a], grew = at, true
		}
	}
	if grew {
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// Seen returns when addr first entered the map since Start or the last Reset.
func (w *Watcher) Seen(addr netip.Addr) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.seen[addr]
	return at, ok
}

// Reset forgets every arrival (before a cold start).
func (w *Watcher) Reset() {
	w.mu.Lock()
	w.seen = map[netip.Addr]time.Time{}
	w.mu.Unlock()
}

// Lost reports whether nft said it lost netlink events (its receive buffer overflowed) or
// printed an error: arrivals may then be missing.
func (w *Watcher) Lost() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// WaitAll waits until every address in addrs has arrived and returns the last arrival's time.
func (w *Watcher) WaitAll(ctx context.Context, addrs []netip.Addr) (time.Time, error) {
	for {
		w.mu.Lock()
		var last time.Time
		missing := 0
		for _, a := range addrs {
			at, ok := w.seen[a]
			if !ok {
				missing++
			} else if at.After(last) {
				last = at
			}
		}
		ch, lost := w.changed, w.lost
		w.mu.Unlock()
		if missing == 0 {
			return last, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d addresses never reached service-ips (nft lost events: %v): %w",
				missing, len(addrs), lost, ctx.Err())
		}
	}
}

// Stop ends the monitor and waits for its reader.
func (w *Watcher) Stop() {
	w.cancel()
	_ = w.cmd.Process.Kill() // whether or not command tied it to the context
	<-w.done
	_ = w.cmd.Wait()
}
