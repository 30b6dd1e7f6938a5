package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"sigs.k8s.io/knftables"
)

// nodePortAddrs lists the node's addresses inside Config.NodePortAddresses, loopback excluded,
// sorted and without duplicates (an address on two interfaces is one NodePort address).
func (p *Proxy) nodePortAddrs() ([]netip.Addr, error) {
	addrs, err := p.cfg.LocalAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the node's addresses for NodePortAddresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() {
			continue
		}
		for _, pf := range p.cfg.NodePortAddresses {
			if pf.Contains(a) {
				out = append(out, a)
				break
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// inFamily returns the addresses of fam, never nil: an empty non-nil list keeps NodePorts limited
// to the (empty) nodeport-ips set rather than opening them on every local address.
func inFamily(addrs []netip.Addr, fam family) []netip.Addr {
	out := []netip.Addr{}
	for _, a := range addrs {
		if fam.has(a) {
			out = append(out, a)
		}
	}
	return out
}

// refreshNodePortIPs lists the node's addresses again and, in each family whose NodePort
// addresses changed, rewrites the elements of the nodeport-ips set, nothing else: an address
// coming or going (DHCP, a new interface) is no reason to rewrite every Service. A table waiting
// for a full sync only gets the new skeleton, which that sync writes. When the transaction fails
// the table falls back to a full sync, which the loop is asked for.
func (p *Proxy) refreshNodePortIPs(ctx context.Context) error {
	local, err := p.nodePortAddrs()
	if err != nil {
		// Keep the addresses we have: a transient listing error must not close the NodePorts.
		return err
	}
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	var errs []error
	for i, t := range p.tables {
		opts := p.opts[i]
		want := inFamily(local, t.fam)
		if slices.Equal(want, opts.nodePortIPs) {
			continue
		}
		have := opts.nodePortIPs
		opts.nodePortIPs = want
		if !t.needFull {
			tx := t.nft.NewTransaction()
			for _, a := range have {
				if !slices.Contains(want, a) {
					tx.Delete(&knftables.Element{Set: setNodePortIPs, Key: []string{a.String()}})
				}
			}
			for _, a := range want {
				if !slices.Contains(have, a) {
					tx.Add(&knftables.Element{Set: setNodePortIPs, Key: []string{a.String()}})
				}
			}
			if err := t.nft.Run(ctx, tx); err != nil {
				t.needFull = true
				errs = append(errs, fmt.Errorf("%s table: updating %s: %w", t.fam.nft, setNodePortIPs, err))
			}
		}
		// Recorded even when the transaction failed: the full sync it falls back to lays the
		// skeleton from these.
		p.opts[i] = opts
		t.skel = newSkeleton(t.fam, opts)
		p.log.Info("NodePort addresses changed", "family", t.fam.nft, "from", have, "to", want)
	}
	if err := errors.Join(errs...); err != nil {
		p.store.markAll()
		return err
	}
	return nil
}
