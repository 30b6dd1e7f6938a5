package agent

import (
	"fmt"

	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/api/client"
)

// BGPOptions are the speaker's BGP flags.
type BGPOptions struct {
	// Enabled adds BGP to the loop, beside layer 2.
	Enabled bool
	// ASN is the speakers' global ASN (each BGPPeer's localASN is used on its session).
	ASN uint32
}

// The client-side rate limit of the loop's writers (IPAllocation status, BGPPeer sessions):
// their writes grow with this node's addresses (one status each when they change, and BGP's on
// shutdown), and client-go's default 5 QPS would take minutes for a few thousand. The API
// server's priority and fairness still applies.
const (
	writerClientQPS   = 50
	writerClientBurst = 100
)

// writerClients are the clients of the loop's writes, with their own rate limit; bgp is nil
// unless withBGP.
func writerClients(cfg *rest.Config, withBGP bool) (api client.Interface, bgp client.BGPInterface, err error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = writerClientQPS, writerClientBurst
	if api, err = client.NewForConfig(cfg); err != nil {
		return nil, nil, fmt.Errorf("building the writers' frontdesk.dev client: %w", err)
	}
	if withBGP {
		if bgp, err = client.NewBGPForConfig(cfg); err != nil {
			return nil, nil, fmt.Errorf("building the writers' frontdesk.dev BGP client: %w", err)
		}
	}
	return api, bgp, nil
}
