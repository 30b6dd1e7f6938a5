package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// lanMember is a namespace with one leg (eth0) on the switch.
type lanMember struct {
	role string // also the name of its port on the switch
	addr string // with the LAN's prefix length
}

// Create makes the namespaces and links of p. It fails if any of them exists: call Remove first.
// On error, what was made is removed.
func Create(ctx context.Context, p Plan) (err error) {
	if have := netns.List(p.Prefix + "-"); len(have) > 0 {
		return fmt.Errorf("lab %q already has namespaces %s: remove them first", p.Prefix, strings.Join(have, ", "))
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Remove(context.WithoutCancel(ctx), p.Prefix))
		}
	}()
	bits := p.LAN.Bits()
	members := []lanMember{
		{RoleControlPlane, fmt.Sprintf("%s/%d", p.ControlPlane, bits)},
		{RoleRouter, fmt.Sprintf("%s/%d", p.Router, bits)},
		{RoleLANClient, fmt.Sprintf("%s/%d", p.LANClient, bits)},
	}
	for _, n := range p.Nodes {
		members = append(members, lanMember{n.Name, fmt.Sprintf("%s/%d", n.IP, bits)})
	}

	sw := p.NS(RoleSwitch)
	if err := netns.Add(ctx, sw); err != nil {
		return err
	}
	if err := netns.Script(ctx, sw, "link add br0 type bridge", "link set br0 up"); err != nil {
		return err
	}
	for _, m := range members {
		ns := p.NS(m.role)
		if err := netns.Add(ctx, ns); err != nil {
			return err
		}
		// Both ends are made inside their namespaces: no interface ever appears on the host.
		if err := netns.Script(ctx, sw,
			"link add "+m.role+" type veth peer name eth0 netns "+ns,
			"link set "+m.role+" master br0 up"); err != nil {
			return err
		}
		if err := netns.Script(ctx, ns, "addr add "+m.addr+" dev eth0", "link set eth0 up"); err != nil {
			return err
		}
	}

	// The network behind the router: one point-to-point link to the client.
	router, client := p.NS(RoleRouter), p.NS(RoleClient)
	ext := p.External.Bits()
	if err := netns.Add(ctx, client); err != nil {
		return err
	}
	if err := netns.Script(ctx, router,
		"link add eth1 type veth peer name eth0 netns "+client,
		fmt.Sprintf("addr add %s/%d dev eth1", p.RouterExternal, ext),
		"link set eth1 up"); err != nil {
		return err
	}
	if err := netns.Script(ctx, client,
		fmt.Sprintf("addr add %s/%d dev eth0", p.Client, ext),
		"link set eth0 up"); err != nil {
		return err
	}
	if err := sysctls(router, map[string]string{
		"net/ipv4/ip_forward": "1",
		// ECMP by the 5-tuple, so that connections from one client spread over the nodes.
		"net/ipv4/fib_multipath_hash_policy": "1",
	}); err != nil {
		return err
	}

	// Pod CIDRs are routed to their node by every LAN member (the "routes between nodes on the
	// LAN" a simple CNI would install). Nodes send everything else to the router, so replies to
	// the client behind it go back the way they came. KeepRoutes keeps them there.
	for ns, routes := range Routes(p) {
		var lines []string
		for _, r := range routes {
			lines = append(lines, r.ipRoute())
		}
		if err := netns.Script(ctx, ns, lines...); err != nil {
			return err
		}
	}
	for _, n := range p.Nodes {
		if err := sysctls(n.NS, map[string]string{
			"net/ipv4/ip_forward": "1",
			// Replies from Pods behind a DNAT may come in on another interface than the
			// request went out of; strict reverse-path filtering would drop them.
			"net/ipv4/conf/all/rp_filter":     "0",
			"net/ipv4/conf/default/rp_filter": "0",
		}); err != nil {
			return err
		}
	}
	return nil
}

// sysctls writes /proc/sys entries inside ns (net.* entries are per namespace).
func sysctls(ns string, kv map[string]string) error {
	return netns.Do(ns, func() error {
		for k, v := range kv {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", k, v, ns, err)
			}
		}
		return nil
	})
}

// Remove deletes every namespace whose name starts with prefix + "-" (with the processes in
// them, their interfaces and their nftables tables) and the /etc/netns entries of those names.
// It works from names alone, so it cleans up after a lab whose supervisor died.
func Remove(ctx context.Context, prefix string) error {
	var errs []error
	for _, ns := range netns.List(prefix + "-") {
		errs = append(errs, netns.Delete(ctx, ns))
	}
	dirs, _ := filepath.Glob(filepath.Join(EtcNetns, prefix+"-*"))
	for _, d := range dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// EtcNetns is where `ip netns exec` finds per-namespace files to mount over /etc.
const EtcNetns = "/etc/netns"

// ListNamespaces returns the namespaces of the lab named prefix.
func ListNamespaces(prefix string) []string { return netns.List(prefix + "-") }
