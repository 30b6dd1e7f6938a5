// Package bgp advertises routes to BGP peers with an embedded GoBGP v4 server. GoBGP stays
// inside this package: callers see Speaker, whose SetPeers and SetRoutes take the full desired
// set each time ("these are the peers and routes now"), and SessionState.
//
// Safety defaults (docs/design/speaker.md, TARGETS.md "BGP"):
//   - nothing listens on TCP 179 unless Config.Listen is set (for passive peers);
//   - the global import policy rejects every route: a peer cannot change the node's routing;
//   - the global export policy rejects every route but the ones SetRoutes gives, to the peers
//     SetRoutes names, with the communities and local preference it says.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// Config configures a Speaker.
type Config struct {
	// RouterID is the BGP identifier, an IPv4 address unique among the peers' neighbours
	// (normally the node's IPv4 address).
	RouterID netip.Addr
	// ASN is the global ASN; each peer's LocalASN overrides it on that session.
	ASN uint32
	// Listen makes the speaker accept connections on TCP port ListenPort (179 when 0) of
	// every address, for passive peers. Off, nothing listens.
	Listen     bool
	ListenPort uint16
	// OnState, if set, is called on every session state change, from one goroutine owned
	// by the Speaker, never after Close returns.
	OnState func(SessionState)
	// MaxPrefixRestart is how long a session shut down for sending more than its
	// PeerConfig.MaxPrefixes routes stays down before the speaker connects again, for peers
	// without a PeerConfig.MaxPrefixRestart; 0 means DefaultMaxPrefixRestart. (GoBGP alone would keep it down until the peer is re-added.)
	MaxPrefixRestart time.Duration
	// Logger receives GoBGP's logs too (logs.go); the zero value means klog.Background().
	Logger klog.Logger
}

// Speaker is an embedded BGP speaker. Its methods are safe for concurrent use.
type Speaker struct {
	cfg Config
	srv *server.BgpServer

	mu     sync.Mutex
	peers  map[string]PeerConfig // by name
	byAddr map[netip.Addr]string // peer address → name
	states map[string]SessionState
	// adv is what SetRoutes last applied: per peer, per prefix, the route.
	adv    map[string]map[netip.Prefix]routes.Route
	global map[netip.Prefix]bool // prefixes in GoBGP's global RIB
	// maxedOut are the peers shut down for exceeding MaxPrefixes, each with the generation
	// of the restart that waits for it.
	maxedOut map[string]uint64
	gen      uint64
	closed   bool

	ctx      context.Context // ends when the speaker shuts down
	stop     context.CancelFunc
	wg       sync.WaitGroup
	stateCh  chan SessionState
	serveErr chan struct{}
}

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("bgp: speaker closed")

// New starts a speaker with no peers and no routes.
func New(cfg Config) (*Speaker, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router ID %v is not an IPv4 address; BGP identifiers are 32 bits (RFC 4271), use the node's IPv4 address", cfg.RouterID)
	}
	if cfg.ASN == 0 {
		return nil, errors.New("bgp: the ASN is 0; want 1 to 4294967295")
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	if cfg.MaxPrefixRestart <= 0 {
		cfg.MaxPrefixRestart = DefaultMaxPrefixRestart
	}
	srv := server.NewBgpServer(server.LoggerOption(gobgpLogger(cfg.Logger), nil))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Speaker{
		cfg: cfg, srv: srv, ctx: ctx, stop: cancel, maxedOut: map[string]uint64{},
		peers: map[string]PeerConfig{}, byAddr: map[netip.Addr]string{}, states: map[string]SessionState{},
		adv: map[string]map[netip.Prefix]routes.Route{}, global: map[netip.Prefix]bool{},
		stateCh: make(chan SessionState, 256), serveErr: make(chan struct{}),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.serveErr)
		srv.Serve()
	}()
	port := int32(-1) // GoBGP: no listener at all
	if cfg.Listen {
		port = 179
		if cfg.ListenPort != 0 {
			port = int32(cfg.ListenPort)
		}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: port,
	}}); err != nil {
		s.shutdown()
		return nil, fmt.Errorf("bgp: starting GoBGP: %w", err)
	}
	if err := s.initPolicies(ctx); err != nil {
		s.shutdown()
		return nil, err
	}
	if err := srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.onPeerEvent}, server.WatchPeer()); err != nil {
		s.shutdown()
		return nil, fmt.Errorf("bgp: watching peers: %w", err)
	}
	s.wg.Add(1)
	go s.deliverStates(ctx)
	return s, nil
}

// Close withdraws every route, closes every session with a Cease notification and stops GoBGP,
// so that traffic moves at once rather than after a hold time. GoBGP may close a session before
// it has sent that session's withdrawals (seen in BenchmarkBlackholedAPIServer, whose withdraw
// time counts whichever of the two the router tells first, and records no count of either);
// the peer then drops the routes with the session, as fast. It waits for the Speaker's
// goroutines.
func (s *Speaker) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.withdrawAll()
	s.shutdown()
	return err
}

// Withdraw removes every route but keeps the sessions, for a planned shutdown: the caller
// withdraws, waits for the peers to move traffic, then closes.
func (s *Speaker) Withdraw() error { return s.withdrawAll() }

func (s *Speaker) withdrawAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.global) == 0 {
		return nil
	}
	err := s.deletePaths(keys(s.global))
	clear(s.global)
	for p := range s.adv {
		clear(s.adv[p])
	}
	return err
}

func (s *Speaker) shutdown() {
	s.srv.Stop()
	s.stop()
	s.wg.Wait()
}

func keys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// DefaultMaxPrefixRestart: a router that sent too many routes is usually misconfigured, and a
// session that comes back at once would flap the speakers' routes with every full table.
const DefaultMaxPrefixRestart = 5 * time.Minute

// opTimeout bounds one GoBGP management call; they are in-process and fast.
const opTimeout = 30 * time.Second
