//go:build linux

package bgprouters

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/router"
)

// GoBGP is gobgpd from the pinned module, driven with the gobgp CLI. Its API listens on
// router.APIAddr inside the router namespace, the CLI's default address.
type GoBGP struct {
	daemon
	cfg Config
	cli string
}

// StartGoBGP starts gobgpd (see Start).
func StartGoBGP(t testing.TB, ns *netnstest.NS, dir string, c Config) *GoBGP {
	t.Helper()
	conf := filepath.Join(dir, "gobgpd.toml")
	writeConfig(t, conf, gobgpConfig(t, c))
	r := &GoBGP{cfg: c, cli: GoTool(t, "gobgp")}
	r.daemon = daemon{kind: GoBGPD, ns: ns, dir: dir, name: GoTool(t, "gobgpd"),
		args: []string{"-f", conf, "--api-hosts=" + router.APIAddr, "--pprof-disable", "-p"}}
	r.ready = func(t testing.TB) {
		t.Helper()
		// A restarted gobgpd has lost the originated prefix: it is added again on every
		// start, and adding it is what shows that the API answers.
		args := []string{"global"}
		if c.Originate.IsValid() {
			args = []string{"global", "rib", "add", c.Originate.String()}
		}
		testkit.Eventually(t, 20*time.Second, poll, func() string {
			if out, err := r.Command(args...).CombinedOutput(); err != nil {
				return fmt.Sprintf("gobgp %s: %v: %s", strings.Join(args, " "), err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

func gobgpConfig(t testing.TB, c Config) string {
	t.Helper()
	hold, keepalive := c.holdSeconds(t)
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = %q\n  port = 179\n  local-address-list = [%q]\n", c.RouterASN, c.Router, c.Router)
	for _, n := range c.Speakers {
		fmt.Fprintf(&b, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = %q\n    peer-as = %d\n", n, c.SpeakerASN)
		if c.Password != "" {
			fmt.Fprintf(&b, "    auth-password = %q\n", c.Password)
		}
		if hold > 0 {
			fmt.Fprintf(&b, "  [neighbors.timers.config]\n    hold-time = %d\n    keepalive-interval = %d\n", hold, keepalive)
		}
		if c.GTSM {
			b.WriteString("  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n")
		}
		if c.BFD.On() {
			fmt.Fprintf(&b, "  [neighbors.bfd.config]\n    enabled = true\n    desired-minimum-tx-interval = %d\n    required-minimum-receive = %d\n    detection-multiplier = %d\n",
				c.BFD.Interval.Microseconds(), c.BFD.Interval.Microseconds(), c.BFD.Multiplier)
		}
		b.WriteString("  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n")
	}
	return b.String()
}

// Command prepares the gobgp CLI with args inside the router namespace.
func (r *GoBGP) Command(args ...string) *exec.Cmd { return r.ns.Command(r.cli, args...) }

// Paths implements Router.
func (r *GoBGP) Paths(t testing.TB) map[netip.Prefix][]Path {
	t.Helper()
	out, err := r.Command("-j", "global", "rib").Output()
	if err != nil {
		t.Fatalf("gobgp global rib: %v", err)
	}
	paths, err := ParseGoBGP(out)
	if err != nil {
		t.Fatal(err)
	}
	// The router's own route is in its global RIB (BIRD's query and FRR's loop leave it out).
	delete(paths, r.cfg.Originate)
	return sortPaths(paths)
}

// ParseGoBGP reads `gobgp -j global rib`.
func ParseGoBGP(b []byte) (map[netip.Prefix][]Path, error) {
	var rib map[string][]struct {
		Attrs []struct {
			Type      int             `json:"type"`
			Nexthop   string          `json:"nexthop"`
			Value     json.RawMessage `json:"value"`
			Community []uint32        `json:"communities"`
		} `json:"attrs"`
	}
	if err := json.Unmarshal(b, &rib); err != nil {
		return nil, fmt.Errorf("gobgp -j global rib: %w\n%s", err, b)
	}
	res := map[netip.Prefix][]Path{}
	for k, ps := range rib {
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			continue
		}
		for _, p := range ps {
			var pp Path
			for _, a := range p.Attrs {
				switch a.Type {
				case 3: // NEXT_HOP
					pp.NextHop, _ = netip.ParseAddr(a.Nexthop)
				case 5: // LOCAL_PREF
					var v uint32
					_ = json.Unmarshal(a.Value, &v)
					pp.LocalPref = v
				case 8: // COMMUNITIES
					for _, c := range a.Community {
						pp.Communities = append(pp.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xFFFF))
					}
				case 32: // LARGE_COMMUNITY
					var v []struct{ ASN, LocalData1, LocalData2 uint32 }
					_ = json.Unmarshal(a.Value, &v)
					for _, c := range v {
						pp.LargeCommunities = append(pp.LargeCommunities, fmt.Sprintf("%d:%d:%d", c.ASN, c.LocalData1, c.LocalData2))
					}
				}
			}
			res[pfx] = append(res[pfx], pp)
		}
	}
	return res, nil
}

// Monitor records gobgpd's best-path changes as `gobgp -j monitor global rib` streams them (no
// polling): when each prefix appeared at the router and when it was withdrawn.
type Monitor struct {
	mu   sync.Mutex
	cond *sync.Cond
	gen  uint64                     // changes so far, for Wait
	up   map[netip.Prefix]time.Time // the prefixes at the router: when each appeared
	down map[netip.Prefix]time.Time // when each prefix was last withdrawn
}

// Monitor starts streaming the router's best-path changes until the test ends. Only changes
// after the stream started are seen.
func (r *GoBGP) Monitor(t testing.TB) *Monitor {
	t.Helper()
	m := &Monitor{up: map[netip.Prefix]time.Time{}, down: map[netip.Prefix]time.Time{}}
	m.cond = sync.NewCond(&m.mu)
	r.stream(t, m.record, "-j", "monitor", "global", "rib")
	return m
}

// stream runs the gobgp CLI with args (one of its monitor streams) until the test ends, and
// hands each line it prints to f with the time it was read: the time of the change it tells.
func (r *GoBGP) stream(t testing.TB, f func(now time.Time, line []byte), args ...string) {
	t.Helper()
	cmd := r.Command(args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20) // a line can hold a whole set of paths
		for sc.Scan() {
			f(time.Now(), sc.Bytes())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
}

// streamPath is a path as gobgp's path streams print it.
type streamPath struct {
	prefix     netip.Prefix
	withdrawal bool
	peer       netip.Addr // the neighbour it came from; invalid if the line names none
}

// parsePaths reads one line of gobgp's path streams (`-j monitor global rib`, `-j monitor
// adj-in`): a JSON list of paths. Paths whose prefix does not parse are left out; ok is false
// if the line is not such a list.
func parsePaths(line []byte) (ps []streamPath, ok bool) {
	var paths []struct {
		Nlri       struct{ Prefix string } `json:"nlri"`
		Withdrawal bool                    `json:"withdrawal"`
		Peer       string                  `json:"peer-address"`
	}
	if json.Unmarshal(line, &paths) != nil {
		return nil, false
	}
	for _, p := range paths {
		pfx, err := netip.ParsePrefix(p.Nlri.Prefix)
		if err != nil {
			continue
		}
		peer, _ := netip.ParseAddr(p.Peer)
		ps = append(ps, streamPath{pfx, p.Withdrawal, peer})
	}
	return ps, true
}

// record takes one line of the stream, seen at now.
func (m *Monitor) record(now time.Time, line []byte) {
	paths, ok := parsePaths(line)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range paths {
		if p.withdrawal {
			m.down[p.prefix] = now
			delete(m.up, p.prefix)
		} else if _, ok := m.up[p.prefix]; !ok {
			m.up[p.prefix] = now
		}
	}
	m.gen++
	m.cond.Broadcast()
}

// Up returns when p appeared at the router (its first best path since it was last withdrawn),
// if it is there now.
func (m *Monitor) Up(p netip.Prefix) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.up[p]
	return at, ok
}

// Down returns when p was last withdrawn at the router, if it ever was.
func (m *Monitor) Down(p netip.Prefix) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.down[p]
	return at, ok
}

// Counts returns how many prefixes are at the router, and how many were withdrawn at least once.
func (m *Monitor) Counts() (up, down int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.up), len(m.down)
}

// Wait returns once cond holds, checking it at once and after every change the stream
// brings, and fails t naming what after timeout. cond may call Up, Down and Counts.
func (m *Monitor) Wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer timer.Stop()
	for {
		m.mu.Lock()
		gen := m.gen
		m.mu.Unlock()
		if cond() {
			return
		}
		m.mu.Lock()
		for m.gen == gen && time.Now().Before(deadline) {
			m.cond.Wait()
		}
		m.mu.Unlock()
		if !time.Now().Before(deadline) && !cond() {
			t.Fatalf("after %v: %s", timeout, what)
		}
	}
}
