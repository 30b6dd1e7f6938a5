//go:build netns

package bgp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// peerPath is one path the router holds for a prefix, as the router reports it.
type peerPath struct {
	NextHop          netip.Addr
	Communities      []string // "65000:100", well-known ones as ASN:VALUE too
	LargeCommunities []string // "65000:1:2"
	LocalPref        uint32   // 0 when the router shows none
}

// router is a BGP daemon in the lab's router namespace, peering with the nodes.
type router interface {
	// paths returns the paths the router holds for prefixes learnt from the speakers.
	paths(t testing.TB) map[netip.Prefix][]peerPath
	// restart stops the daemon and starts it again with the same configuration.
	restart(t testing.TB)
	// stop stops the daemon.
	stop(t testing.TB)
}

// routerConfig is what every router implementation is configured with.
type routerConfig struct {
	// nodes are the speakers' addresses.
	nodes []netip.Addr
	// asn the speakers use (speakerASN for eBGP, routerASN for iBGP).
	speakerASN uint32
	password   string
	// bfd enables BFD towards the speakers (300 ms × 3).
	bfd bool
	// hold is the hold time offered; 0 means 90 s.
	hold int
	// gtsm enables TTL security (RFC 5082) towards the speakers, one hop (gobgpd only).
	gtsm bool
}

type routerKind struct {
	name  string
	start func(t testing.TB, l *lab, c routerConfig) router
}

var routerKinds = []routerKind{
	{"gobgpd", startGoBGP},
	{"bird", startBIRD},
	{"frr", startFRR},
}

// daemon is a process restartable with the same arguments.
type daemon struct {
	l    *lab
	name string
	args []string
	cmd  *exec.Cmd
	// ready, if set, waits until the daemon answers queries after a start.
	ready func(t testing.TB)
}

func (d *daemon) start(t testing.TB) {
	t.Helper()
	d.cmd = startDaemon(t, d.l.router, d.name, d.args...)
	if d.ready != nil {
		d.ready(t)
	}
}

func (d *daemon) stop(t testing.TB) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	_, _ = d.cmd.Process.Wait()
}

func (d *daemon) restart(t testing.TB) {
	t.Helper()
	d.stop(t)
	d.start(t)
}

// ---- GoBGP (gobgpd from the pinned module, driven with the gobgp CLI) ----

type gobgpRouter struct {
	daemon
	cli string
}

func goTool(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command("go", "tool", "-modfile="+repoFile(t, "hack/tools/go.mod"), "-n", name).Output()
	if err != nil {
		t.Fatalf("building %s (go tool -n %s): %v", name, name, err)
	}
	return strings.TrimSpace(string(out))
}

func repoFile(t testing.TB, rel string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, rel)); err == nil {
			return filepath.Join(d, rel)
		}
	}
	t.Fatalf("no %s above %s", rel, wd)
	return ""
}

func startGoBGP(t testing.TB, l *lab, c routerConfig) router {
	t.Helper()
	dir := l.dir("gobgp")
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = %q\n  port = 179\n  local-address-list = [%q]\n", routerASN, routerAddr, routerAddr)
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = %q\n    peer-as = %d\n", n, c.speakerASN)
		if c.password != "" {
			fmt.Fprintf(&b, "    auth-password = %q\n", c.password)
		}
		if c.hold > 0 {
			fmt.Fprintf(&b, "  [neighbors.timers.config]\n    hold-time = %d\n    keepalive-interval = %d\n", c.hold, max(1, c.hold/3))
		}
		if c.gtsm {
			b.WriteString("  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n")
		}
		if c.bfd {
			b.WriteString("  [neighbors.bfd.config]\n    enabled = true\n    desired-minimum-tx-interval = 300000\n    required-minimum-receive = 300000\n    detection-multiplier = 3\n")
		}
		b.WriteString("  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n")
	}
	conf := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &gobgpRouter{cli: goTool(t, "gobgp")}
	r.daemon = daemon{l: l, name: goTool(t, "gobgpd"), args: []string{"-f", conf, "--api-hosts=127.0.0.1:50051", "--pprof-disable", "-p"}}
	r.ready = func(t testing.TB) {
		testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
			if out, err := l.router.Command(r.cli, "global", "rib", "add", peerRoute.String()).CombinedOutput(); err != nil {
				return fmt.Sprintf("gobgp global rib add: %v: %s", err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

func (r *gobgpRouter) paths(t testing.TB) map[netip.Prefix][]peerPath {
	t.Helper()
	out, err := r.l.router.Command(r.cli, "-j", "global", "rib").Output()
	if err != nil {
		t.Fatalf("gobgp global rib: %v", err)
	}
	var rib map[string][]struct {
		Attrs []struct {
			Type      int             `json:"type"`
			Nexthop   string          `json:"nexthop"`
			Value     json.RawMessage `json:"value"`
			Community []uint32        `json:"communities"`
		} `json:"attrs"`
		SourceID string `json:"source-id"`
	}
	if err := json.Unmarshal(out, &rib); err != nil {
		t.Fatalf("gobgp global rib: %v\n%s", err, out)
	}
	res := map[netip.Prefix][]peerPath{}
	for k, ps := range rib {
		pfx, err := netip.ParsePrefix(k)
		if err != nil || pfx == peerRoute {
			continue
		}
		for _, p := range ps {
			var pp peerPath
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
	return sortPaths(res)
}

// ---- BIRD 2 ----

type birdRouter struct {
	daemon
	ctl string
}

func startBIRD(t testing.TB, l *lab, c routerConfig) router {
	t.Helper()
	dir := l.dir("bird")
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nprotocol device {}\nprotocol direct { ipv4; interface \"eth0\"; }\n", routerAddr)
	// The router installs the speakers' routes, merging equal ones into one ECMP route.
	b.WriteString("protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }\n")
	fmt.Fprintf(&b, "protocol static announced { ipv4; route %s blackhole; }\n", peerRoute)
	if c.bfd {
		b.WriteString("protocol bfd { interface \"*\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }\n")
	}
	for i, n := range c.nodes {
		fmt.Fprintf(&b, "protocol bgp n%d {\n  local %s as %d;\n  neighbor %s as %d;\n", i, routerAddr, routerASN, n, c.speakerASN)
		b.WriteString("  connect retry time 1;\n  error wait time 1, 2;\n")
		if c.password != "" {
			fmt.Fprintf(&b, "  password %q;\n", c.password)
		}
		if c.hold > 0 {
			fmt.Fprintf(&b, "  hold time %d;\n  keepalive time %d;\n", c.hold, max(1, c.hold/3))
		}
		if c.bfd {
			b.WriteString("  bfd on;\n")
		}
		if c.speakerASN == routerASN {
			b.WriteString("  direct;\n")
		}
		b.WriteString("  ipv4 { import all; export where proto = \"announced\"; };\n}\n")
	}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &birdRouter{ctl: filepath.Join(dir, "bird.ctl")}
	r.daemon = daemon{l: l, name: "bird", args: []string{"-f", "-c", conf, "-s", r.ctl, "-P", filepath.Join(dir, "bird.pid")}}
	r.ready = func(t testing.TB) {
		testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
			if out, err := exec.Command("birdc", "-s", r.ctl, "show", "status").CombinedOutput(); err != nil {
				return fmt.Sprintf("birdc: %v: %s", err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

var (
	birdPair  = regexp.MustCompile(`\((\d+),\s*(\d+)\)`)
	birdTuple = regexp.MustCompile(`\((\d+),\s*(\d+),\s*(\d+)\)`)
)

func (r *birdRouter) paths(t testing.TB) map[netip.Prefix][]peerPath {
	t.Helper()
	out, err := exec.Command("birdc", "-s", r.ctl, "show", "route", "all", "where", "source", "=", "RTS_BGP").CombinedOutput()
	if err != nil {
		t.Fatalf("birdc show route: %v\n%s", err, out)
	}
	res := map[netip.Prefix][]peerPath{}
	var cur netip.Prefix
	var pp *peerPath
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
			pp = &peerPath{}
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
	return sortPaths(res)
}

// ---- FRR 8 (bgpd alone, without zebra) ----

type frrRouter struct {
	daemon
	dir string
}

func startFRR(t testing.TB, l *lab, c routerConfig) router {
	t.Helper()
	if err := os.MkdirAll("/var/run/frr", 0o755); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("chown", "frr:frr", "/var/run/frr").Run()
	dir := l.dir("frr")
	_ = exec.Command("chown", "frr:frr", dir).Run()
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname r\n!\nrouter bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp bestpath as-path multipath-relax\n", routerASN, routerAddr)
	for _, n := range c.nodes {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers connect 1\n neighbor %s advertisement-interval 0\n", n, c.speakerASN, n, n)
		if c.password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", n, c.password)
		}
		if c.hold > 0 {
			fmt.Fprintf(&b, " neighbor %s timers %d %d\n", n, max(1, c.hold/3), c.hold)
		}
	}
	fmt.Fprintf(&b, " address-family ipv4 unicast\n  network %s\n  maximum-paths 8\n  maximum-paths ibgp 8\n exit-address-family\n!\n", peerRoute)
	conf := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &frrRouter{dir: dir}
	r.daemon = daemon{l: l, name: "/usr/lib/frr/bgpd", args: []string{"-Z", "-n", "-f", conf, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-A", "127.0.0.1", "-P", "0"}}
	r.ready = func(t testing.TB) {
		testkit.Eventually(t, 15*time.Second, waitEvery, func() string {
			if out, err := exec.Command("vtysh", "--vty_socket", dir, "-c", "show bgp summary").CombinedOutput(); err != nil {
				return fmt.Sprintf("vtysh: %v: %s", err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

func (r *frrRouter) vtysh(t testing.TB, cmd string) []byte {
	t.Helper()
	out, err := exec.Command("vtysh", "--vty_socket", r.dir, "-c", cmd).Output()
	if err != nil {
		t.Fatalf("vtysh -c %q: %v", cmd, err)
	}
	return out
}

func (r *frrRouter) paths(t testing.TB) map[netip.Prefix][]peerPath {
	t.Helper()
	var sum struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal(r.vtysh(t, "show bgp ipv4 unicast json"), &sum); err != nil {
		t.Fatal(err)
	}
	res := map[netip.Prefix][]peerPath{}
	for k := range sum.Routes {
		pfx, err := netip.ParsePrefix(k)
		if err != nil || pfx == peerRoute {
			continue
		}
		var detail struct {
			Paths []struct {
				Community      *struct{ String string } `json:"community"`
				LargeCommunity *struct{ String string } `json:"largeCommunity"`
				LocPrf         *uint32                  `json:"locPrf"`
				Nexthops       []struct{ IP string }    `json:"nexthops"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(r.vtysh(t, "show bgp ipv4 unicast "+k+" json"), &detail); err != nil {
			t.Fatal(err)
		}
		for _, p := range detail.Paths {
			var pp peerPath
			if len(p.Nexthops) > 0 {
				pp.NextHop, _ = netip.ParseAddr(p.Nexthops[0].IP)
			}
			if p.LocPrf != nil {
				pp.LocalPref = *p.LocPrf
			}
			if p.Community != nil {
				pp.Communities = frrCommunities(p.Community.String)
			}
			if p.LargeCommunity != nil {
				pp.LargeCommunities = strings.Fields(p.LargeCommunity.String)
			}
			res[pfx] = append(res[pfx], pp)
		}
	}
	return sortPaths(res)
}

// frrCommunities turns FRR's names of well-known communities into ASN:VALUE.
func frrCommunities(s string) []string {
	names := map[string]string{"no-export": "65535:65281", "no-advertise": "65535:65282", "local-AS": "65535:65283", "no-peer": "65535:65284",
		"noExport": "65535:65281", "noAdvertise": "65535:65282", "localAs": "65535:65283", "noPeer": "65535:65284"}
	var out []string
	for _, f := range strings.Fields(s) {
		if v, ok := names[f]; ok {
			f = v
		}
		out = append(out, f)
	}
	return out
}

func sortPaths(m map[netip.Prefix][]peerPath) map[netip.Prefix][]peerPath {
	for _, ps := range m {
		for i := range ps {
			slices.Sort(ps[i].Communities)
			slices.Sort(ps[i].LargeCommunities)
		}
		slices.SortFunc(ps, func(a, b peerPath) int { return a.NextHop.Compare(b.NextHop) })
	}
	return m
}
