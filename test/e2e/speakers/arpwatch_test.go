//go:build netns && integration

package speakers

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
)

// arpRound is how often the ARP watcher asks, and how long it collects the answers of one round.
const arpRound = 50 * time.Millisecond

// arpWatch asks from the client, every arpRound, who has each of its addresses, by broadcast
// ARP requests on the LAN, and records every round's answerers. A round with two answerers for
// an address is the split brain a flood used to cause; an answerer other than the one of the
// first round is a move.
type arpWatch struct {
	vips  []netip.Addr
	owner map[netip.Addr]string // the MAC of the first round, per address

	mu      sync.Mutex
	rounds  int
	doubles []string // "+1.25s 198.18.0.100: [mac mac]"
	moves   []string
	missing map[netip.Addr]int // rounds without an answer
	run     map[netip.Addr]int // the current run of rounds without an answer
	longest int                // the longest such run, of any address
	stopped bool
	done    chan struct{}
	start   time.Time
}

// watchARP starts watching vips, once each has exactly one answerer; it fails the test if that
// does not happen within 10 s.
func (e *env) watchARP(vips ...netip.Addr) *arpWatch {
	e.t.Helper()
	var c *arp.Client
	if err := e.client.Do(func() error {
		ifi, err := net.InterfaceByName(lanIface)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	}); err != nil {
		e.t.Fatalf("ARP client in %s: %v", e.client.Name, err)
	}
	w := &arpWatch{vips: vips, owner: map[netip.Addr]string{}, missing: map[netip.Addr]int{}, run: map[netip.Addr]int{}, done: make(chan struct{})}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := w.ask(c)
		ok := true
		for _, v := range vips {
			ok = ok && len(got[v]) == 1
		}
		if ok {
			for _, v := range vips {
				w.owner[v] = got[v][0]
			}
			break
		}
		if time.Now().After(deadline) {
			_ = c.Close()
			e.t.Fatalf("ARP answerers were not one per address within 10 s: %v", got)
		}
	}
	w.start = time.Now()
	go func() {
		defer close(w.done)
		defer func() { _ = c.Close() }()
		for !w.isStopped() {
			w.record(w.ask(c))
		}
	}()
	e.t.Cleanup(w.stop)
	return w
}

// ask sends one request per address and collects the answers for arpRound: each address's
// answering MACs, sorted.
func (w *arpWatch) ask(c *arp.Client) map[netip.Addr][]string {
	end := time.Now().Add(arpRound)
	for _, v := range w.vips {
		_ = c.Request(v)
	}
	got := map[netip.Addr][]string{}
	for {
		_ = c.SetReadDeadline(end)
		p, _, err := c.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(end) {
			break
		}
		if err != nil || p.Operation != arp.OperationReply || !slices.Contains(w.vips, p.SenderIP) {
			continue
		}
		mac := strings.ToLower(p.SenderHardwareAddr.String())
		if !slices.Contains(got[p.SenderIP], mac) {
			got[p.SenderIP] = append(got[p.SenderIP], mac)
		}
	}
	for _, macs := range got {
		slices.Sort(macs)
	}
	return got
}

func (w *arpWatch) record(got map[netip.Addr][]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rounds++
	at := time.Since(w.start).Round(time.Millisecond)
	for _, v := range w.vips {
		macs := got[v]
		switch {
		case len(macs) == 0:
			w.missing[v]++
			w.run[v]++
			w.longest = max(w.longest, w.run[v])
			continue
		case len(macs) > 1:
			w.doubles = append(w.doubles, at.String()+" "+v.String()+": "+strings.Join(macs, " "))
		}
		w.run[v] = 0
		for _, m := range macs {
			if m != w.owner[v] {
				w.moves = append(w.moves, at.String()+" "+v.String()+": "+w.owner[v]+" → "+m)
			}
		}
	}
}

func (w *arpWatch) isStopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped
}

func (w *arpWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	<-w.done
}

// check stops the watch and fails t for any round with two answerers, any move, or an address
// that went unanswered for longer than a client's retries (three requests a second apart, as
// Linux sends them) would bridge.
func (w *arpWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("ARP watch: %d rounds of %v over %v; rounds without an answer: %v, at most %d in a row", w.rounds, arpRound,
		time.Since(w.start).Round(time.Millisecond), w.missing, w.longest)
	if w.rounds < int(time.Since(w.start)/arpRound)/2 {
		t.Errorf("only %d rounds of ARP requests in %v: the watch itself was starved", w.rounds, time.Since(w.start))
	}
	if len(w.doubles) > 0 {
		t.Errorf("%d rounds with two answerers, first ones: %v", len(w.doubles), w.doubles[:min(5, len(w.doubles))])
	}
	if len(w.moves) > 0 {
		t.Errorf("%d answers from another node than the owner's, first ones: %v", len(w.moves), w.moves[:min(5, len(w.moves))])
	}
	if time.Duration(w.longest)*arpRound > maxUnanswered {
		t.Errorf("an address went unanswered for %d rounds in a row (%v), more than %v", w.longest, time.Duration(w.longest)*arpRound, maxUnanswered)
	}
}

// maxUnanswered is the longest an address may go without an answer: a client resolving it sends
// three requests a second apart before it gives up, so anything shorter is bridged by its retries.
const maxUnanswered = time.Second
