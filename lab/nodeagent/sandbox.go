package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/lab/dns"
	"github.com/frontdesk-lb/frontdesk/lab/netns"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// ErrPodCIDRFull is returned when every address of the node's Pod CIDR is in use.
var ErrPodCIDRFull = errors.New("no free address in the node's Pod CIDR")

// ipam hands out the node's Pod addresses: .1 and the broadcast address are never used.
type ipam struct {
	cidr  netip.Prefix
	inUse map[netip.Addr]types.UID
}

func newIPAM(cidr netip.Prefix) *ipam {
	return &ipam{cidr: cidr.Masked(), inUse: map[netip.Addr]types.UID{}}
}

// allocate returns the lowest free address.
func (m *ipam) allocate(uid types.UID) (netip.Addr, error) {
	a := m.cidr.Addr().Next().Next()
	for ; m.cidr.Contains(a); a = a.Next() {
		if !m.cidr.Contains(a.Next()) {
			break // the last address: broadcast
		}
		if _, used := m.inUse[a]; !used {
			m.inUse[a] = uid
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrPodCIDRFull, m.cidr)
}

func (m *ipam) release(a netip.Addr) { delete(m.inUse, a) }

// sandbox is a Pod's network: its namespace, joined to the node's by a veth pair, with one
// routable address, and the resolv.conf `ip netns exec` mounts for its processes.
type sandbox struct {
	ns, veth string
	ip       netip.Addr
}

// setUp makes the sandbox of Pod uid in namespace podNamespace. Any leftover of the same
// name (an agent restarted) is removed first.
func (a *Agent) setUp(ctx context.Context, uid types.UID, podNamespace string, ip netip.Addr) (sandbox, error) {
	sb := sandbox{ns: a.cfg.Plan.PodNS(string(uid)), veth: topology.PodVeth(string(uid)), ip: ip}
	if err := netns.Delete(ctx, sb.ns); err != nil {
		return sb, err
	}
	if err := netns.Add(ctx, sb.ns); err != nil {
		return sb, err
	}
	gw := topology.PodGateway.String()
	if err := netns.Script(ctx, a.cfg.NodeNS,
		"link add "+sb.veth+" type veth peer name eth0 netns "+sb.ns,
		"addr add "+gw+"/32 dev "+sb.veth,
		"link set "+sb.veth+" up",
		"route add "+ip.String()+"/32 dev "+sb.veth); err != nil {
		return sb, errors.Join(err, a.tearDown(ctx, sb))
	}
	if err := netns.Script(ctx, sb.ns,
		"addr add "+ip.String()+"/32 dev eth0",
		"link set eth0 up",
		"route add "+gw+" dev eth0 scope link",
		"route add default via "+gw+" dev eth0"); err != nil {
		return sb, errors.Join(err, a.tearDown(ctx, sb))
	}
	if err := writeResolvConf(sb.ns, podNamespace, a.cfg.Nameserver); err != nil {
		return sb, errors.Join(err, a.tearDown(ctx, sb))
	}
	return sb, nil
}

// tearDown removes the namespace (the veth goes with it) and its /etc/netns entry.
func (a *Agent) tearDown(ctx context.Context, sb sandbox) error {
	return errors.Join(netns.Delete(ctx, sb.ns), os.RemoveAll(filepath.Join(topology.EtcNetns, sb.ns)))
}

// writeResolvConf gives the Pod's processes the cluster DNS and the kubelet's search path.
func writeResolvConf(ns, podNamespace string, nameserver netip.Addr) error {
	dir := filepath.Join(topology.EtcNetns, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf("search %[1]s.svc.%[2]s svc.%[2]s %[2]s\nnameserver %[3]s\noptions ndots:5\n",
		podNamespace, dns.Domain, nameserver)
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644)
}
