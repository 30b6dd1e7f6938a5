package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// PeerConfig is one BGP session.
type PeerConfig struct {
	// Name identifies the peer (the BGPPeer's name); SetRoutes and SessionState use it.
	Name     string
	Address  netip.Addr
	ASN      uint32
	LocalASN uint32
	// Port is the peer's port; 0 means 179.
	Port uint16
	// Passive: wait for the peer to connect (needs Config.Listen).
	Passive bool
	// SourceAddress is the local address of the session; invalid means the kernel's choice.
	SourceAddress netip.Addr
	// HoldTime and Keepalive; 0 means 90 s and a third of the hold time.
	HoldTime, Keepalive time.Duration
	// ConnectRetry is the interval between connection attempts, and the idle time after a
	// session reset; 0 means DefaultConnectRetry.
	ConnectRetry time.Duration
	// Password is the TCP MD5 password (RFC 2385); empty means none.
	Password string
	// EBGPMultiHop is the TTL towards an eBGP peer more than one hop away; 0 means 1.
	EBGPMultiHop uint8
	// TTLSecurityHops enables GTSM (RFC 5082): the peer's packets must arrive with TTL ≥
	// 255 - TTLSecurityHops; 0 means off.
	TTLSecurityHops uint8
	// BFD enables a BFD session with the peer; nil means none.
	BFD *BFDConfig
	// GracefulRestart, when positive, advertises graceful restart with this restart time.
	GracefulRestart time.Duration
	// MaxPrefixes is how many routes the peer may send (GoBGP's prefix limit on the session's
	// family); one more shuts the session down (a Cease NOTIFICATION, RFC 4486 subcode 1)
	// until MaxPrefixRestart has passed. 0 means DefaultMaxPrefixes.
	MaxPrefixes uint32
	// MaxPrefixRestart is how long the session stays shut down after exceeding MaxPrefixes;
	// 0 means Config.MaxPrefixRestart. Changing it alone does not reset the session.
	MaxPrefixRestart time.Duration
}

// BFDConfig are BFD timers (RFC 5880).
type BFDConfig struct {
	ReceiveInterval, TransmitInterval time.Duration
	DetectMultiplier                  uint8
}

// DefaultMaxPrefixes is small because the speaker imports nothing: every route a peer sends
// is refused, yet GoBGP keeps it in the peer's Adj-RIB-In before any policy runs (there is no
// switch for that), so without a limit a peer could fill the speaker's memory (issue 17).
// A router that sends the speakers its full table needs an export filter, or a larger limit.
const DefaultMaxPrefixes = 100

// DefaultConnectRetry is short because a speaker peers with one or two routers it must reach
// quickly after they restart; RFC 4271's 120 s suggestion is for meshes of many peers.
const DefaultConnectRetry = 5 * time.Second

// ErrPeer is wrapped by every error about a PeerConfig.
var ErrPeer = errors.New("bgp: invalid peer")

func (p PeerConfig) validate(listen bool) error {
	switch {
	case p.Name == "":
		return fmt.Errorf("%w: the name is empty", ErrPeer)
	case !p.Address.IsValid() || p.Address.Zone() != "":
		return fmt.Errorf("%w %s: address %v is not an IP address without zone", ErrPeer, p.Name, p.Address)
	case p.ASN == 0 || p.LocalASN == 0:
		return fmt.Errorf("%w %s: ASN %d, local ASN %d; both must be 1 to 4294967295", ErrPeer, p.Name, p.ASN, p.LocalASN)
	case p.SourceAddress.IsValid() && p.SourceAddress.Is4() != p.Address.Is4():
		return fmt.Errorf("%w %s: source address %v is not of the family of %v", ErrPeer, p.Name, p.SourceAddress, p.Address)
	case p.EBGPMultiHop != 0 && p.TTLSecurityHops != 0:
		return fmt.Errorf("%w %s: eBGP multihop and TTL security exclude each other; set one", ErrPeer, p.Name)
	case p.Passive && !listen:
		return fmt.Errorf("%w %s: passive, but the speaker does not listen (Config.Listen)", ErrPeer, p.Name)
	}
	return nil
}

// SetPeers makes the configured sessions exactly peers: new ones are added, removed ones
// closed (their routes go with them), changed ones replaced (the session restarts).
func (s *Speaker) SetPeers(peers []PeerConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	want := map[string]PeerConfig{}
	addrs := map[netip.Addr]string{}
	for _, p := range peers {
		if err := p.validate(s.cfg.Listen); err != nil {
			return err
		}
		if other, ok := addrs[p.Address]; ok {
			return fmt.Errorf("%w: %s and %s have one address, %v; GoBGP keeps one session per address", ErrPeer, other, p.Name, p.Address)
		}
		if _, ok := want[p.Name]; ok {
			return fmt.Errorf("%w: two peers are named %s", ErrPeer, p.Name)
		}
		want[p.Name] = p
		addrs[p.Address] = p.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var errs []error
	for name, old := range s.peers {
		if p, ok := want[name]; ok && sameSession(p, old) {
			s.peers[name] = p // a new MaxPrefixRestart applies from the next shutdown
			continue
		}
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: old.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: removing peer %s: %w", name, err))
			continue
		}
		delete(s.peers, name)
		delete(s.maxedOut, name) // its restart, if one waits, finds it gone
		delete(s.byAddr, old.Address)
		delete(s.states, name)
		delete(s.adv, name)
	}
	names := keys(want)
	slices.Sort(names)
	for _, name := range names {
		p := want[name]
		if _, ok := s.peers[name]; ok {
			continue
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: adding peer %s (%v): %w", name, p.Address, err))
			continue
		}
		s.peers[name] = p
		s.byAddr[p.Address] = name
		s.states[name] = SessionState{Peer: name, State: StateIdle, Since: time.Now()}
	}
	return errors.Join(errs...)
}

// sameSession says whether a and b make the same GoBGP peer: MaxPrefixRestart is the
// speaker's own timer, not GoBGP's, and needs no new session.
func sameSession(a, b PeerConfig) bool {
	a.MaxPrefixRestart, b.MaxPrefixRestart = 0, 0
	return reflect.DeepEqual(a, b)
}

// maxPrefixRestart is how long the peer stays down after exceeding its limit.
func (p PeerConfig) maxPrefixRestart(def time.Duration) time.Duration {
	if p.MaxPrefixRestart > 0 {
		return p.MaxPrefixRestart
	}
	return def
}

func (p PeerConfig) maxPrefixes() uint32 {
	if p.MaxPrefixes == 0 {
		return DefaultMaxPrefixes
	}
	return p.MaxPrefixes
}

func seconds(d time.Duration) uint64 { return uint64((d + time.Second - 1) / time.Second) }

func apiPeer(p PeerConfig) *api.Peer {
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if p.Address.Is6() {
		family.Afi = api.Family_AFI_IP6
	}
	retry := p.ConnectRetry
	if retry <= 0 {
		retry = DefaultConnectRetry
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(), PeerAsn: p.ASN, LocalAsn: p.LocalASN,
			AuthPassword: p.Password, Description: p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry: seconds(retry), IdleHoldTimeAfterReset: seconds(retry),
			HoldTime: seconds(p.HoldTime), KeepaliveInterval: seconds(p.Keepalive),
		}},
		Transport: &api.Transport{PassiveMode: p.Passive, RemotePort: uint32(p.Port)},
		AfiSafis: []*api.AfiSafi{{
			Config:       &api.AfiSafiConfig{Family: family, Enabled: true},
			PrefixLimits: &api.PrefixLimit{Family: family, MaxPrefixes: p.maxPrefixes()},
		}},
	}
	if p.SourceAddress.IsValid() {
		ap.Transport.LocalAddress = p.SourceAddress.String()
	}
	if p.EBGPMultiHop > 1 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.EBGPMultiHop)}
	}
	if p.TTLSecurityHops > 0 {
		ap.TtlSecurity = &api.TtlSecurity{Enabled: true, TtlMin: uint32(255 - int(p.TTLSecurityHops))}
	}
	if p.BFD != nil {
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(p.BFD.TransmitInterval / time.Microsecond),
			RequiredMinimumReceive:   uint32(p.BFD.ReceiveInterval / time.Microsecond),
			DetectionMultiplier:      uint32(p.BFD.DetectMultiplier),
		}
	}
	if p.GracefulRestart > 0 {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(seconds(p.GracefulRestart))}
		ap.AfiSafis[0].MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
	}
	return ap
}
