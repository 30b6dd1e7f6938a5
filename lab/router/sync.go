package router

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"time"

	"github.com/go-logr/logr"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// Resync is how often the syncer reads gobgpd's RIB when gobgpd reports nothing: a safety net.
// Changes are reported by gobgpd's streams: adj-in (`gobgp monitor adj-in`) shows every path a
// node advertises or withdraws, and each node's session state (`gobgp monitor neighbor <node>`)
// shows its session ending (a hold timer or BFD expiring), which withdraws all its paths without
// a word on the adj-in stream. A route then reaches the kernel table within settle of the change,
// as a router's FIB follows its RIB.
const Resync = 2 * time.Second

// settle is the wait between a reported change and the read of the RIB: a burst of changes (a
// speaker's whole set) is best read once.
const settle = 20 * time.Millisecond

// Sync mirrors gobgpd's RIB into the kernel table of namespace ns until ctx ends. gobgp is the
// CLI built with gobgpd; nodes are the neighbours whose sessions it follows. Routes it installed
// are removed when it stops.
func Sync(ctx context.Context, ns, gobgp string, nodes []netip.Addr, log logr.Logger) {
	changed := make(chan struct{}, 1)
	go watchStream(ctx, ns, gobgp, changed, "monitor", "adj-in")
	for _, n := range nodes {
		go watchStream(ctx, ns, gobgp, changed, "monitor", "neighbor", n.String())
	}
	have := map[netip.Prefix][]netip.Addr{}
	tick := time.NewTicker(Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			apply(context.Background(), ns, have, nil, log)
			return
		case <-tick.C:
		case <-changed:
			select {
			case <-ctx.Done():
				continue
			case <-time.After(settle):
			}
			select { // what changed meanwhile is in the read below
			case <-changed:
			default:
			}
		}
		argv := netns.Enter(ns, gobgp, "-u", "127.0.0.1", "global", "rib", "-a", "ipv4", "-j")
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err != nil {
			continue // gobgpd not up yet, or restarting
		}
		want, err := ParseRIB(out)
		if err != nil {
			log.Error(err, "reading gobgpd's RIB")
			continue
		}
		have = apply(ctx, ns, have, want, log)
	}
}

// watchStream signals changed for every event one of gobgpd's streams prints (`gobgp monitor
// ...`: one line per event, as JSON), running it again when it ends: gobgpd was not up yet, or
// restarted.
func watchStream(ctx context.Context, ns, gobgp string, changed chan<- struct{}, args ...string) {
	for ctx.Err() == nil {
		argv := netns.Enter(ns, append([]string{gobgp, "-u", "127.0.0.1", "-j"}, args...)...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if out, err := cmd.StdoutPipe(); err == nil && cmd.Start() == nil {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64<<10), 64<<20) // a line can hold a whole set of paths
			for sc.Scan() {
				select {
				case changed <- struct{}{}:
				default: // a signal is pending: the read after it sees this change too
				}
			}
			_ = cmd.Wait()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// apply runs the commands from have to want and returns the table as it now is (a failed
// command leaves its prefix as it was, to be retried).
func apply(ctx context.Context, ns string, have, want map[netip.Prefix][]netip.Addr, log logr.Logger) map[netip.Prefix][]netip.Addr {
	now := map[netip.Prefix][]netip.Addr{}
	for p, h := range have {
		now[p] = h
	}
	for _, args := range Commands(have, want) {
		p := netip.MustParsePrefix(args[2])
		if _, err := netns.IP(ctx, append([]string{"-n", ns}, args...)...); err != nil {
			log.Error(err, "router route")
			continue
		}
		if args[1] == "del" {
			delete(now, p)
		} else {
			now[p] = want[p]
		}
	}
	return now
}
