package bgpmode

import (
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
)

// secretGetter reads a Secret of the speakers' namespace, as a lister does.
type secretGetter func(name string) (*corev1.Secret, error)

// peerConfigFrom turns a BGPPeer into the session config. An error says what is wrong with
// the object (or its password Secret) in words for the session's status message; the session
// is then not configured.
func peerConfigFrom(p *v1alpha1.BGPPeer, secret secretGetter, namespace string) (bgp.PeerConfig, error) {
	s := p.Spec
	addr, err := netip.ParseAddr(s.Address)
	if err != nil || addr.Zone() != "" {
		return bgp.PeerConfig{}, fmt.Errorf("spec.address %q is not an IP address", s.Address)
	}
	if s.PeerASN < 1 || s.PeerASN > 0xFFFFFFFF || s.LocalASN < 1 || s.LocalASN > 0xFFFFFFFF {
		return bgp.PeerConfig{}, fmt.Errorf("spec.peerASN %d or spec.localASN %d is out of range; want 1 to 4294967295", s.PeerASN, s.LocalASN)
	}
	pc := bgp.PeerConfig{
		Name: p.Name, Address: addr.Unmap(), ASN: uint32(s.PeerASN), LocalASN: uint32(s.LocalASN),
		Port: uint16(s.Port), Passive: s.Passive,
	}
	if s.SourceAddress != "" {
		if pc.SourceAddress, err = netip.ParseAddr(s.SourceAddress); err != nil {
			return bgp.PeerConfig{}, fmt.Errorf("spec.sourceAddress %q is not an IP address", s.SourceAddress)
		}
	}
	if s.HoldTimeSeconds != nil {
		pc.HoldTime = time.Duration(*s.HoldTimeSeconds) * time.Second
	}
	if s.KeepaliveTimeSeconds != nil {
		pc.Keepalive = time.Duration(*s.KeepaliveTimeSeconds) * time.Second
	}
	if s.EBGPMultiHop != nil {
		pc.EBGPMultiHop = uint8(min(max(*s.EBGPMultiHop, 0), 255))
	}
	if s.MaxPrefixes != nil {
		pc.MaxPrefixes = uint32(min(max(*s.MaxPrefixes, 1), 10_000_000))
	}
	if s.MaxPrefixRestartSeconds != nil { // clamped to the CRD's bounds, for objects stored before them
		pc.MaxPrefixRestart = time.Duration(min(max(*s.MaxPrefixRestartSeconds, 5), 86400)) * time.Second
	}
	if s.TTLSecurityHops != nil {
		pc.TTLSecurityHops = uint8(min(max(*s.TTLSecurityHops, 0), 254))
	}
	if b := s.BFD; b != nil {
		pc.BFD = &bgp.BFDConfig{
			ReceiveInterval:  time.Duration(b.ReceiveIntervalMilliseconds) * time.Millisecond,
			TransmitInterval: time.Duration(b.TransmitIntervalMilliseconds) * time.Millisecond,
			DetectMultiplier: uint8(min(max(b.DetectMultiplier, 0), 255)),
		}
	}
	if g := s.GracefulRestart; g != nil {
		pc.GracefulRestart = time.Duration(max(g.RestartTimeSeconds, 1)) * time.Second
	}
	if ref := s.PasswordSecret; ref != nil {
		key := ref.Key
		if key == "" {
			key = "password"
		}
		sec, err := secret(ref.Name)
		if apierrors.IsNotFound(err) {
			// The speaker sees only labelled Secrets: an unlabelled one looks missing.
			return bgp.PeerConfig{}, fmt.Errorf("password Secret %s/%s not found among the Secrets labelled %s (the speakers read no others)", namespace, ref.Name, passwordSelector)
		}
		if err != nil {
			return bgp.PeerConfig{}, fmt.Errorf("password Secret %s/%s: %w", namespace, ref.Name, err)
		}
		pw, ok := sec.Data[key]
		if !ok || len(pw) == 0 {
			return bgp.PeerConfig{}, fmt.Errorf("password Secret %s/%s has no key %q", namespace, ref.Name, key)
		}
		// Linux refuses TCP MD5 keys over 80 bytes (TCP_MD5SIG_MAXKEYLEN).
		if len(pw) > 80 {
			return bgp.PeerConfig{}, fmt.Errorf("password in Secret %s/%s is %d bytes; Linux accepts at most 80", namespace, ref.Name, len(pw))
		}
		pc.Password = string(pw)
	}
	return pc, nil
}

// routerIDOf is the node's first IPv4 InternalIP, the BGP identifier.
func routerIDOf(n *corev1.Node) (netip.Addr, bool) {
	if n == nil {
		return netip.Addr{}, false
	}
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Unmap().Is4() {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
