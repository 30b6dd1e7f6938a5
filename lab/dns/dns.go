// Package dns is the lab's small cluster DNS: it answers <service>.<namespace>.svc.cluster.local
// with the Service's ClusterIPs, over UDP, and nothing else. It forwards nothing (the lab sends no
// traffic outside its namespaces): other names get REFUSED, unknown Services NXDOMAIN.
package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Domain is the cluster domain, the kubelet's default.
const Domain = "cluster.local"

// TTL of every answer, in seconds: short, so that a re-created Service is seen soon.
const TTL = 5

// Resolver is what the server asks: the addresses of Service namespace/name, and whether it
// exists. A headless Service exists with no addresses.
type Resolver interface {
	Lookup(namespace, name string) (addrs []netip.Addr, exists bool)
}

// Answer builds the reply to one query message. It is pure, for tests.
func Answer(query []byte, r Resolver) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}

	ns, svc, inZone := split(q.Name.String())
	var addrs []netip.Addr
	switch {
	case h.OpCode != 0:
		resp.RCode = dnsmessage.RCodeNotImplemented
	case !inZone:
		resp.RCode = dnsmessage.RCodeRefused
	case svc == "":
		// A name inside the zone that is not a Service (svc.cluster.local, a namespace):
		// NXDOMAIN makes resolvers go on to the next search domain.
		resp.RCode = dnsmessage.RCodeNameError
	default:
		var ok bool
		if addrs, ok = r.Lookup(ns, svc); !ok {
			resp.RCode = dnsmessage.RCodeNameError
		}
	}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: TTL}
	for _, a := range addrs {
		switch {
		case a.Is4() && q.Type == dnsmessage.TypeA:
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case a.Is6() && q.Type == dnsmessage.TypeAAAA:
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// split reads <svc>.<ns>.svc.cluster.local. (any case); inZone is false outside cluster.local.
func split(name string) (ns, svc string, inZone bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name != Domain && !strings.HasSuffix(name, "."+Domain) {
		return "", "", false
	}
	labels := strings.Split(strings.TrimSuffix(name, Domain), ".")
	// "hello-svc.default.svc." splits into hello-svc, default, svc, "".
	if len(labels) != 4 || labels[2] != "svc" || labels[0] == "" || labels[1] == "" {
		return "", "", true
	}
	return labels[1], labels[0], true
}

// Serve answers queries on conn until ctx ends; it closes conn.
func Serve(ctx context.Context, conn net.PacketConn, r Resolver) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue
		}
		out, err := Answer(buf[:n], r)
		if err != nil {
			continue // not a query we can parse: no answer, as with any garbage
		}
		_, _ = conn.WriteTo(out, from)
	}
}
