//go:build linux

package bgprouters

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// BIRDRouter is BIRD 2, which also installs the speakers' routes in the router namespace's
// kernel table, merging equal ones into one ECMP route.
type BIRDRouter struct {
	daemon
	cfg Config
	ctl string
}

// StartBIRD starts bird (see Start).
func StartBIRD(t testing.TB, ns *netnstest.NS, dir string, c Config) *BIRDRouter {
	t.Helper()
	if c.GTSM {
		t.Fatal("the BIRD fixture does not configure GTSM")
	}
	conf := filepath.Join(dir, "bird.conf")
	writeConfig(t, conf, birdConfig(t, c))
	r := &BIRDRouter{cfg: c, ctl: filepath.Join(dir, "bird.ctl")}
	r.daemon = daemon{kind: BIRD, ns: ns, dir: dir, name: "bird", args: []string{"-f", "-c", conf, "-s", r.ctl, "-P", filepath.Join(dir, "bird.pid")}}
	r.ready = func(t testing.TB) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, poll, func() string {
			if out, err := exec.Command("birdc", "-s", r.ctl, "show", "status").CombinedOutput(); err != nil {
				return fmt.Sprintf("birdc: %v: %s", err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

func birdConfig(t testing.TB, c Config) string {
	t.Helper()
	hold, keepalive := c.holdSeconds(t)
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nprotocol device {}\nprotocol direct { ipv4; interface \"eth0\"; }\n", c.Router)
	// The router installs the speakers' routes, merging equal ones into one ECMP route.
	b.WriteString("protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }\n")
	export := "none"
	if c.Originate.IsValid() {
		fmt.Fprintf(&b, "protocol static announced { ipv4; route %s blackhole; }\n", c.Originate)
		export = "where proto = \"announced\""
	}
	if c.Flood > 0 {
		b.WriteString("protocol static flood { ipv4;\n")
		a := FloodFrom
		for range c.Flood {
			fmt.Fprintf(&b, "route %s/32 blackhole;\n", a)
			a = a.Next()
		}
		b.WriteString("}\n")
		if export == "none" {
			export = "where proto = \"flood\""
		} else {
			export = "where proto = \"announced\" || proto = \"flood\""
		}
	}
	if c.BFD.On() {
		ms := c.BFD.Interval.Milliseconds()
		fmt.Fprintf(&b, "protocol bfd { interface \"*\" { min rx interval %d ms; min tx interval %d ms; multiplier %d; }; }\n", ms, ms, c.BFD.Multiplier)
	}
	for i, n := range c.Speakers {
		fmt.Fprintf(&b, "protocol bgp n%d {\n  local %s as %d;\n  neighbor %s as %d;\n", i, c.Router, c.RouterASN, n, c.SpeakerASN)
		b.WriteString("  connect retry time 1;\n  error wait time 1, 2;\n")
		if c.Password != "" {
			fmt.Fprintf(&b, "  password %q;\n", c.Password)
		}
		if hold > 0 {
			fmt.Fprintf(&b, "  hold time %d;\n  keepalive time %d;\n", hold, keepalive)
		}
		if c.BFD.On() {
			b.WriteString("  bfd on;\n")
		}
		if c.SpeakerASN == c.RouterASN {
			b.WriteString("  direct;\n")
		}
		fmt.Fprintf(&b, "  ipv4 { import all; export %s; };\n}\n", export)
	}
	return b.String()
}

// Paths implements Router.
func (r *BIRDRouter) Paths(t testing.TB) map[netip.Prefix][]Path {
	t.Helper()
	out, err := exec.Command("birdc", "-s", r.ctl, "show", "route", "all", "where", "source", "=", "RTS_BGP").CombinedOutput()
	if err != nil {
		t.Fatalf("birdc show route: %v\n%s", err, out)
	}
	return sortPaths(ParseBIRD(out))
}

var (
	birdPair  = regexp.MustCompile(`\((\d+),\s*(\d+)\)`)
	birdTuple = regexp.MustCompile(`\((\d+),\s*(\d+),\s*(\d+)\)`)
)

// ParseBIRD reads `birdc show route all`: a route's first line starts with its prefix, the
// further paths of the same prefix start with blanks, and each path's attributes follow it.
func ParseBIRD(out []byte) map[netip.Prefix][]Path {
	res := map[netip.Prefix][]Path{}
	var cur netip.Prefix
	var pp *Path
	flush := func() {
		if pp != nil && cur.IsValid() {
			res[cur] = append(res[cur], *pp)
		}
		pp = nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.Contains(line, " unicast [") || strings.Contains(line, " unreachable ["):
			flush()
			if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
				if p, err := netip.ParsePrefix(strings.Fields(line)[0]); err == nil {
					cur = p
				}
			}
			pp = &Path{}
		case pp == nil:
		case strings.HasPrefix(trimmed, "BGP.next_hop:"):
			pp.NextHop, _ = netip.ParseAddr(strings.Fields(trimmed)[1])
		case strings.HasPrefix(trimmed, "BGP.local_pref:"):
			v, _ := strconv.ParseUint(strings.Fields(trimmed)[1], 10, 32)
			pp.LocalPref = uint32(v)
		case strings.HasPrefix(trimmed, "BGP.community:"):
			for _, m := range birdPair.FindAllStringSubmatch(trimmed, -1) {
				pp.Communities = append(pp.Communities, m[1]+":"+m[2])
			}
		case strings.HasPrefix(trimmed, "BGP.large_community:"):
			for _, m := range birdTuple.FindAllStringSubmatch(trimmed, -1) {
				pp.LargeCommunities = append(pp.LargeCommunities, m[1]+":"+m[2]+":"+m[3])
			}
		}
	}
	flush()
	return res
}
