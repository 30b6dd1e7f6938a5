//go:build netns && integration

package speakers

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestL2APIServerDown stops the API server under running speakers. The addresses keep being
// served from the same node; a speaker killed meanwhile is still replaced, since liveness and
// election need no API server; a speaker restarted while the API server is down stays out of the
// election until it can list (it must not win addresses it cannot announce); when the API
// server is back, it joins, takes its addresses back and the status catches up.
func TestL2APIServerDown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.serveResponders(vip)
	e.createService(ctx, "echo", vip)
	p := e.startProber(vip)
	owner := p.steady(t, 500*time.Millisecond, 30*time.Second)
	e.waitAnnouncers(ctx, owner)

	if err := e.c.APIServer.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// Nothing marks "the address stayed": the prober's replies over a bounded window are the
	// observation, every one of them checked, not only the steady state at its end.
	time.Sleep(2 * time.Second)
	if got := p.steady(t, 1500*time.Millisecond, 5*time.Second); got != owner {
		t.Fatalf("with the API server down the client moved from %s to %s", nodeName(owner), nodeName(got))
	}
	if r, moved := p.otherThan(owner, down); moved {
		t.Fatalf("with the API server down the client was answered by %s at +%v", nodeName(r.node), r.at.Sub(down).Round(time.Millisecond))
	}
	if gap := p.longestGap(down, time.Now()); gap > 200*time.Millisecond {
		t.Errorf("with the API server down the client saw a %v gap", gap)
	}

	t0 := time.Now()
	e.speakers[owner].Stop(syscall.SIGKILL)
	r, next := takeover(t, p, owner, t0, 5*time.Second)
	t.Logf("API server down: %s killed, %s took over in %v", nodeName(owner), nodeName(next), r.takeover.Round(time.Millisecond))
	e.waitNeigh(vip, next)

	restarted := time.Now()
	e.speakers[owner] = e.startSpeaker(owner)
	time.Sleep(3 * time.Second)
	if got := p.steady(t, 2*time.Second, 5*time.Second); got != next {
		t.Fatalf("a speaker restarted without an API server took the client from %s to %s", nodeName(next), nodeName(got))
	}
	if r, moved := p.otherThan(next, restarted); moved {
		t.Fatalf("a speaker restarted without an API server answered the client (%s at +%v)", nodeName(r.node), r.at.Sub(restarted).Round(time.Millisecond))
	}
	if gap := p.longestGap(restarted, time.Now()); gap > 200*time.Millisecond {
		t.Errorf("a speaker restarted without an API server caused a %v gap", gap)
	}
	// The client's entry still points at the serving node either way; a new request must be
	// answered too, or the client loses the address when its entry expires.
	if macs := e.arpAnswers(vip); !slices.Equal(macs, []string{nodeMAC(next)}) {
		t.Errorf("with a speaker restarted without an API server, ARP for %v is answered by %v, want only %s", vip, macs, nodeMAC(next))
	}

	back := time.Now()
	if err := e.c.APIServer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p.servedBy(t, owner, 30*time.Second)
	e.waitAnnouncers(ctx, owner)
	if gap := p.longestGap(back, time.Now()); gap > time.Second {
		t.Errorf("the return of %s caused a %v gap", nodeName(owner), gap)
	}
	t.Logf("API server back: %s serves again after %v, longest gap %v", nodeName(owner),
		time.Since(back).Round(time.Millisecond), p.longestGap(back, time.Now()).Round(time.Millisecond))
}
