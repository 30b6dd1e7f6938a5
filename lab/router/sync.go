package router

import (
	"context"
	"net/netip"
	"os/exec"
	"time"

	"github.com/go-logr/logr"

	"github.com/frontdesk-lb/frontdesk/lab/netns"
)

// SyncInterval is how often the syncer reads gobgpd's RIB: the time a route change takes to
// reach the router's kernel table, at most.
const SyncInterval = 500 * time.Millisecond

// Sync mirrors gobgpd's RIB into the kernel table of namespace ns until ctx ends. gobgp is the
// CLI built with gobgpd. Routes it installed are removed when it stops.
func Sync(ctx context.Context, ns, gobgp string, log logr.Logger) {
	have := map[netip.Prefix][]netip.Addr{}
	tick := time.NewTicker(SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			apply(context.Background(), ns, have, nil, log)
			return
		case <-tick.C:
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
