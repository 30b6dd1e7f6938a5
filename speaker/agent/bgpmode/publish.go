package bgpmode

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// publish is this run's part of the status of every allocated address of the plan, and its
// BGPAdvertising Events. An address that left the plan (its Service is gone) gets the part that removes this
// node's entry.
func (p *Protocol) publish(plan routes.Plan, now metav1.Time, ev loop.Recorder) loop.Report {
	rep := loop.Report{Parts: make(map[netip.Addr]loop.Part, len(plan.Decisions))}
	next := map[netip.Addr]bool{}
	for _, d := range plan.Decisions {
		if d.Pool == "" {
			continue
		}
		adv := d.Advertised()
		rep.Parts[d.Addr] = p.part(d.Addr, adv, string(d.Reason), now)
		if !adv {
			continue
		}
		next[d.Addr] = true
		if !p.advertised[d.Addr] {
			ev.Event(d.Services, corev1.EventTypeNormal, ReasonBGPAdvertising,
				fmt.Sprintf("%s is advertised over BGP from %s to %s", d.Addr, p.cfg.NodeName, strings.Join(d.Peers, ", ")))
		}
	}
	p.advertised = next
	rep.Default = func(addr netip.Addr) loop.Part { return p.part(addr, false, "no served Service holds it", now) }
	return rep
}

// part is nextBGPStatus for one address.
func (p *Protocol) part(addr netip.Addr, advertising bool, why string, now metav1.Time) loop.Part {
	return func(st v1alpha1.IPAllocationStatus) v1alpha1.IPAllocationStatus {
		next, _ := nextBGPStatus(st, p.cfg.NodeName, advertising, addr.String(), why, now)
		return next
	}
}

// writeSessions asks Writes for this node's entries of the BGPPeers' status.sessions that changed
// (every peer this node has, configured or in error; none for the others) and sets the session
// metrics. sessions records what was asked for: Writes retries until it is written.
func (p *Protocol) writeSessions(peerErrs map[string]string) {
	want := map[string]v1alpha1.BGPSession{}
	established, routesOut := 0, 0
	for _, s := range p.speaker.Sessions() {
		want[s.Peer] = sessionEntry(p.cfg.NodeName, s, "")
		if s.State == bgp.StateEstablished {
			established++
		}
		routesOut += s.RoutesAdvertised
		if d := s.UpdatesSent - p.updates[s.Peer]; s.UpdatesSent >= p.updates[s.Peer] {
			bgpUpdatesSent.Add(float64(d))
		}
		p.updates[s.Peer] = s.UpdatesSent
	}
	for name, msg := range peerErrs {
		want[name] = sessionEntry(p.cfg.NodeName, bgp.SessionState{}, msg)
	}
	bgpSessionsEstablished.Set(float64(established))
	bgpSessionsConfigured.Set(float64(len(want)))
	bgpRoutesAdvertised.Set(float64(routesOut))
	for name, e := range want {
		if old, ok := p.sessions[name]; ok && sameSession(old, e) {
			continue
		}
		p.putSession(name, &e)
		p.sessions[name] = e
	}
	for name := range p.sessions {
		if _, ok := want[name]; !ok {
			p.putSession(name, nil)
			delete(p.sessions, name)
		}
	}
}

// putSession asks Writes for this node's entry of a BGPPeer's status.sessions (nil: its removal).
func (p *Protocol) putSession(peer string, e *v1alpha1.BGPSession) {
	p.cfg.Writes.Put("BGPPeer/"+peer, func(ctx context.Context) error { return p.applySession(ctx, peer, e) })
}

func sameSession(a, b v1alpha1.BGPSession) bool {
	return a.State == b.State && a.Message == b.Message && a.RoutesAdvertised == b.RoutesAdvertised && a.BFD == b.BFD
}

// applySession writes this node's entry of a BGPPeer's status.sessions (nil: removes it).
func (p *Protocol) applySession(ctx context.Context, peer string, e *v1alpha1.BGPSession) error {
	body, err := sessionApply(peer, e)
	if err != nil {
		return err
	}
	_, err = p.cfg.BGP.BGPPeers().Patch(ctx, peer, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: loop.Component + "/" + p.cfg.NodeName, Force: ptr.To(true)}, "status")
	if apierrors.IsNotFound(err) {
		return nil // the BGPPeer is gone
	}
	if err != nil {
		return fmt.Errorf("writing the session of %s to BGPPeer %s: %w", p.cfg.NodeName, peer, err)
	}
	return nil
}
