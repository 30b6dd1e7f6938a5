//go:build netns

package bgp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// A Speaker's sockets belong to the namespace of the thread that opens them, and GoBGP opens
// them from its own goroutines; so each speaker under test runs as a child process (this test
// binary, re-executed in role "bgp-helper" with its configuration) inside its node's namespace, driven over stdin and
// stdout with JSON lines. This is also what lets the tests SIGTERM and SIGKILL a speaker.

func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{"bgp-helper": helperMain})
}

// helperCmd is one line on the helper's stdin.
type helperCmd struct {
	// Cmd is "set" (Peers and Routes), "rib" (list the global RIB), "sessions", "withdraw"
	// or "mem" (the helper's memory).
	Cmd    string
	Peers  []PeerConfig
	Routes map[string][]routes.Route
}

// helperOut is one line on the helper's stdout.
type helperOut struct {
	// Kind is "ok", "err", "state", "rib", "sessions" or "closed".
	Kind  string
	Err   string         `json:",omitempty"`
	State *SessionState  `json:",omitempty"`
	RIB   []netip.Prefix `json:",omitempty"`
	// AdjIn are the prefixes the peers sent (before the import policy).
	AdjIn    []netip.Prefix `json:",omitempty"`
	Sessions []SessionState `json:",omitempty"`
	// PeakRSS and RSS are the helper's peak and current resident memory, in bytes (VmHWM and
	// VmRSS of /proc/self/status).
	PeakRSS, RSS int64 `json:",omitempty"`
	// At is when the helper acted (applied a set, or finished withdrawing on SIGTERM).
	At time.Time
}

// helperConfig is the JSON form of the Config fields a helper takes.
type helperConfig struct {
	RouterID         netip.Addr
	ASN              uint32
	Listen           bool
	MaxPrefixRestart time.Duration
}

func helperMain(cfgJSON string) int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(cfgJSON), &hc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := Config{RouterID: hc.RouterID, ASN: hc.ASN, Listen: hc.Listen, MaxPrefixRestart: hc.MaxPrefixRestart,
		// JSON lines on stderr, which the test reads (speakerProc.stderr) and shows on failure.
		Logger: funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) }, funcr.Options{})}
	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(o helperOut) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(o)
	}
	cfg.OnState = func(st SessionState) { emit(helperOut{Kind: "state", State: &st, At: time.Now()}) }
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-term:
			err := s.Close()
			o := helperOut{Kind: "closed", At: time.Now()}
			if err != nil {
				o.Err = err.Error()
			}
			emit(o)
			return 0
		case line, ok := <-lines:
			if !ok {
				_ = s.Close()
				return 0
			}
			var c helperCmd
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				emit(helperOut{Kind: "err", Err: err.Error()})
				continue
			}
			emit(s.helperDo(c))
		}
	}
}

func (s *Speaker) helperDo(c helperCmd) helperOut {
	errOut := func(err error) helperOut { return helperOut{Kind: "err", Err: err.Error()} }
	switch c.Cmd {
	case "set":
		if err := s.SetPeers(c.Peers); err != nil {
			return errOut(err)
		}
		if err := s.SetRoutes(c.Routes); err != nil {
			return errOut(err)
		}
		return helperOut{Kind: "ok", At: time.Now()}
	case "withdraw":
		if err := s.Withdraw(); err != nil {
			return errOut(err)
		}
		return helperOut{Kind: "ok", At: time.Now()}
	case "sessions":
		return helperOut{Kind: "sessions", Sessions: s.Sessions()}
	case "mem":
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return errOut(err)
		}
		out := helperOut{Kind: "mem"}
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
				out.PeakRSS = kb << 10
			}
			if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
				out.RSS = kb << 10
			}
		}
		return out
	case "rib":
		// Everything in GoBGP's global RIB, whatever its source: a route a peer managed to
		// get past the import policy would show here.
		out := helperOut{Kind: "rib"}
		err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gobgp.RF_IPv4_UC},
			func(p gobgp.NLRI, _ []*apiutil.Path) {
				if pfx, err := netip.ParsePrefix(p.String()); err == nil {
					out.RIB = append(out.RIB, pfx)
				}
			})
		if err != nil {
			return errOut(err)
		}
		s.mu.Lock()
		var peers []string
		for a := range s.byAddr {
			peers = append(peers, a.String())
		}
		s.mu.Unlock()
		for _, a := range peers {
			err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_ADJ_IN, Name: a, Family: gobgp.RF_IPv4_UC, EnableFiltered: true},
				func(p gobgp.NLRI, _ []*apiutil.Path) {
					if pfx, err := netip.ParsePrefix(p.String()); err == nil {
						out.AdjIn = append(out.AdjIn, pfx)
					}
				})
			if err != nil {
				return errOut(err)
			}
		}
		return out
	}
	return errOut(fmt.Errorf("unknown command %q", c.Cmd))
}
