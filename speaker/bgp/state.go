package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// State is a BGP session state (RFC 4271 section 8.2.2), spelled as in the BGPPeer status.
type State string

// The session states.
const (
	StateIdle        State = "Idle"
	StateConnect     State = "Connect"
	StateActive      State = "Active"
	StateOpenSent    State = "OpenSent"
	StateOpenConfirm State = "OpenConfirm"
	StateEstablished State = "Established"
)

// SessionState is one session as the speaker sees it.
type SessionState struct {
	Peer  string
	State State
	// Since is when the session entered State.
	Since time.Time
	// Message says why the session went down, when GoBGP knows (the peer's notification,
	// a hold timer expiry, a BFD failure).
	Message string
	// The following are filled by Sessions only.
	// RoutesAdvertised is how many routes the peer was sent and not withdrawn.
	RoutesAdvertised int
	// UpdatesSent counts UPDATE messages sent on the session since it was configured.
	UpdatesSent uint64
	// BFD is the BFD session's state (Up, Down, Init, AdminDown), "" without BFD.
	BFD string
}

func stateOf(s gobgp.FSMState) State {
	switch s {
	case gobgp.BGP_FSM_CONNECT:
		return StateConnect
	case gobgp.BGP_FSM_ACTIVE:
		return StateActive
	case gobgp.BGP_FSM_OPENSENT:
		return StateOpenSent
	case gobgp.BGP_FSM_OPENCONFIRM:
		return StateOpenConfirm
	case gobgp.BGP_FSM_ESTABLISHED:
		return StateEstablished
	}
	return StateIdle
}

// onPeerEvent runs on GoBGP's watcher goroutine: it records the state and hands it to
// deliverStates without blocking GoBGP.
func (s *Speaker) onPeerEvent(ev *apiutil.WatchEventMessage_PeerEvent, ts time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	s.mu.Lock()
	name, ok := s.byAddr[ev.Peer.State.NeighborAddress]
	if !ok {
		s.mu.Unlock()
		return
	}
	st := SessionState{Peer: name, State: stateOf(ev.Peer.State.SessionState), Since: ts}
	if st.State != StateEstablished {
		st.Message = disconnectMessage(ev.Peer.State.DisconnectReason, ev.Peer.State.DisconnectMessage)
		if ev.Peer.State.AdminState == api.PeerState_ADMIN_STATE_PFX_CT {
			st.Message = fmt.Sprintf("max-prefix: the peer sent more than %d routes (frontdesk imports none: filter what the router sends the speakers, or raise spec.maxPrefixes); session shut down, next attempt in %v (spec.maxPrefixRestartSeconds)",
				s.peers[name].maxPrefixes(), s.peers[name].maxPrefixRestart(s.cfg.MaxPrefixRestart))
			s.restartLater(name, ev.Peer.State.NeighborAddress)
		}
		if st.Message == "" {
			st.Message = s.states[name].Message
		}
	}
	if s.states[name].State == st.State && s.states[name].Message == st.Message {
		s.mu.Unlock()
		return
	}
	s.states[name] = st
	s.mu.Unlock()
	if s.cfg.OnState == nil {
		return
	}
	select {
	case s.stateCh <- st:
	default:
		// The consumer is behind; Sessions still has the latest state.
	}
}

// restartLater enables the peer again after its MaxPrefixRestart, once per shutdown: GoBGP leaves a
// peer that exceeded its prefix limit administratively down for good. Called with s.mu held.
func (s *Speaker) restartLater(name string, addr netip.Addr) {
	if _, waiting := s.maxedOut[name]; waiting || s.closed {
		return
	}
	s.gen++
	gen := s.gen
	s.maxedOut[name] = gen
	wait := s.peers[name].maxPrefixRestart(s.cfg.MaxPrefixRestart)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		current := s.maxedOut[name] == gen && !s.closed
		if current {
			delete(s.maxedOut, name)
		}
		s.mu.Unlock()
		if !current {
			return // removed or replaced meanwhile: a new peer starts up by itself
		}
		ctx, cancel := context.WithTimeout(s.ctx, opTimeout)
		defer cancel()
		if err := s.srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: addr.String()}); err != nil {
			s.cfg.Logger.Error(err, "restarting a BGP session after max-prefix", "peer", name)
		}
	}()
}

func disconnectMessage(r api.PeerState_DisconnectReason, msg string) string {
	if r == api.PeerState_DISCONNECT_REASON_UNSPECIFIED && msg == "" {
		return ""
	}
	reason := strings.TrimPrefix(r.String(), "DISCONNECT_REASON_")
	reason = strings.ToLower(strings.ReplaceAll(reason, "_", " "))
	if msg == "" {
		return reason
	}
	return reason + ": " + msg
}

func (s *Speaker) deliverStates(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case st := <-s.stateCh:
			if s.cfg.OnState != nil {
				s.cfg.OnState(st)
			}
		}
	}
}

// Sessions returns every configured session, sorted by peer name, with counters.
func (s *Speaker) Sessions() []SessionState {
	s.mu.Lock()
	out := make([]SessionState, 0, len(s.states))
	idx := map[string]int{}
	bfd := map[int]bool{}
	for _, st := range s.states {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SessionState) int { return strings.Compare(a.Peer, b.Peer) })
	for i, st := range out {
		idx[s.peers[st.Peer].Address.String()] = i
		bfd[i] = s.peers[st.Peer].BFD != nil
	}
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_ = s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		i, ok := idx[p.GetConf().GetNeighborAddress()]
		if !ok {
			return
		}
		if m := p.GetState().GetMessages().GetSent(); m != nil {
			out[i].UpdatesSent = m.Update
		}
		for _, a := range p.GetAfiSafis() {
			out[i].RoutesAdvertised += int(a.GetState().GetAdvertised())
		}
		if b := p.GetState().GetBfdState(); b != nil && bfd[i] {
			out[i].BFD = bfdState(b.SessionState)
		}
	})
	return out
}

func bfdState(s api.BfdSessionState) string {
	t := strings.TrimPrefix(s.String(), "BFD_SESSION_STATE_")
	switch t {
	case "UP":
		return "Up"
	case "DOWN":
		return "Down"
	case "INIT":
		return "Init"
	case "ADMIN_DOWN":
		return "AdminDown"
	}
	return t
}
