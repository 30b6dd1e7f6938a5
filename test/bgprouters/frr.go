//go:build linux

package bgprouters

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// FRRRouter is FRR 8's bgpd alone, without zebra: it holds routes in its RIB only.
type FRRRouter struct {
	daemon
	cfg Config
}

// StartFRR starts FRR's bgpd (see Start).
func StartFRR(t testing.TB, ns *netnstest.NS, dir string, c Config) *FRRRouter {
	t.Helper()
	if c.GTSM || c.BFD.On() {
		t.Fatal("the FRR fixture configures neither GTSM nor BFD (which needs bfdd)")
	}
	// bgpd drops to user frr, which needs its run directory and dir.
	if err := os.MkdirAll("/var/run/frr", 0o755); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("chown", "frr:frr", "/var/run/frr").Run()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("chown", "frr:frr", dir).Run()
	conf := filepath.Join(dir, "bgpd.conf")
	writeConfig(t, conf, frrConfig(t, c))
	r := &FRRRouter{cfg: c}
	r.daemon = daemon{kind: FRR, ns: ns, dir: dir, name: "/usr/lib/frr/bgpd", args: []string{"-Z", "-n", "-f", conf, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-A", "127.0.0.1", "-P", "0"}}
	r.ready = func(t testing.TB) {
		t.Helper()
		testkit.Eventually(t, 15*time.Second, poll, func() string {
			if out, err := exec.Command("vtysh", "--vty_socket", dir, "-c", "show bgp summary").CombinedOutput(); err != nil {
				return fmt.Sprintf("vtysh: %v: %s", err, out)
			}
			return ""
		})
	}
	r.start(t)
	return r
}

func frrConfig(t testing.TB, c Config) string {
	t.Helper()
	hold, keepalive := c.holdSeconds(t)
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname r\n!\nrouter bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp bestpath as-path multipath-relax\n", c.RouterASN, c.Router)
	for _, n := range c.Speakers {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers connect 1\n neighbor %s advertisement-interval 0\n", n, c.SpeakerASN, n, n)
		if c.Password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", n, c.Password)
		}
		if hold > 0 {
			fmt.Fprintf(&b, " neighbor %s timers %d %d\n", n, keepalive, hold)
		}
	}
	b.WriteString(" address-family ipv4 unicast\n")
	if c.Originate.IsValid() {
		fmt.Fprintf(&b, "  network %s\n", c.Originate)
	}
	b.WriteString("  maximum-paths 8\n  maximum-paths ibgp 8\n exit-address-family\n!\n")
	return b.String()
}

func (r *FRRRouter) vtysh(t testing.TB, cmd string) []byte {
	t.Helper()
	out, err := exec.Command("vtysh", "--vty_socket", r.dir, "-c", cmd).Output()
	if err != nil {
		t.Fatalf("vtysh -c %q: %v", cmd, err)
	}
	return out
}

// Paths implements Router: the table names the prefixes, each prefix's detail its paths.
func (r *FRRRouter) Paths(t testing.TB) map[netip.Prefix][]Path {
	t.Helper()
	prefixes, err := ParseFRRTable(r.vtysh(t, "show bgp ipv4 unicast json"))
	if err != nil {
		t.Fatal(err)
	}
	res := map[netip.Prefix][]Path{}
	for _, pfx := range prefixes {
		if pfx == r.cfg.Originate {
			continue
		}
		ps, err := ParseFRRPrefix(r.vtysh(t, "show bgp ipv4 unicast "+pfx.String()+" json"))
		if err != nil {
			t.Fatal(err)
		}
		res[pfx] = append(res[pfx], ps...)
	}
	return sortPaths(res)
}

// ParseFRRTable reads the prefixes of `show bgp ipv4 unicast json`.
func ParseFRRTable(b []byte) ([]netip.Prefix, error) {
	var table struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal(b, &table); err != nil {
		return nil, fmt.Errorf("show bgp ipv4 unicast json: %w", err)
	}
	var out []netip.Prefix
	for k := range table.Routes {
		if pfx, err := netip.ParsePrefix(k); err == nil {
			out = append(out, pfx)
		}
	}
	return out, nil
}

// ParseFRRPrefix reads the paths of `show bgp ipv4 unicast PREFIX json`.
func ParseFRRPrefix(b []byte) ([]Path, error) {
	var detail struct {
		Paths []struct {
			Community      *struct{ String string } `json:"community"`
			LargeCommunity *struct{ String string } `json:"largeCommunity"`
			LocPrf         *uint32                  `json:"locPrf"`
			Nexthops       []struct{ IP string }    `json:"nexthops"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &detail); err != nil {
		return nil, fmt.Errorf("show bgp ipv4 unicast PREFIX json: %w", err)
	}
	var out []Path
	for _, p := range detail.Paths {
		var pp Path
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
		out = append(out, pp)
	}
	return out, nil
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
