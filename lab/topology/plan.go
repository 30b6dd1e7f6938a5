// Package topology is the lab's network: which namespaces exist, how they are wired and which
// addresses they hold (the IP plan, also in lab/README.md), and making and removing them.
//
// Every address is in a range reserved for benchmarking (198.18.0.0/15, RFC 2544) or for
// documentation (203.0.113.0/24, RFC 5737), and lives only inside the lab's namespaces: nothing
// is added to the host's network namespace, so nothing the lab does can reach a real network.
package topology

import (
	"fmt"
	"net/netip"
	"regexp"
)

// Plan is the lab's network. Names of namespaces are Prefix + "-" + role.
type Plan struct {
	Prefix string

	LAN          netip.Prefix // the switch's subnet: router, control plane, nodes, LAN client
	Router       netip.Addr   // router's LAN address, the nodes' default gateway
	ControlPlane netip.Addr   // kube-apiserver and the lab DNS server listen here
	LANClient    netip.Addr   // a machine on the nodes' LAN: reaches L2-announced addresses by ARP

	External       netip.Prefix // the network behind the router
	RouterExternal netip.Addr
	Client         netip.Addr // the client behind the router: reaches announced addresses by routing

	Nodes []Node

	ClusterCIDR netip.Prefix // every node's Pod CIDR is inside it
	ServiceCIDR netip.Prefix // ClusterIPs
	// ClusterDNS is the kube-dns Service's ClusterIP, every Pod's nameserver: the 10th address
	// of ServiceCIDR, as kubeadm picks it.
	ClusterDNS netip.Addr
	// L2Pool is the IPPool announced over ARP: on the LAN's subnet, so that a speaker finds the
	// interface to answer on and the router reaches it without a route.
	L2Pool string
	// BGPPool is off the LAN: reachable only through routes the speakers advertise (#6).
	BGPPool netip.Prefix
	// RouterASN and NodeASN are for the BGP peering (#6).
	RouterASN, NodeASN uint32
}

// Node is one lab node: a namespace holding its LAN interface, its containerd and kubelet, node
// proxy and speaker, and its Pods' bridge (cni0, the gateway of its Pod range).
type Node struct {
	Name    string // the Node object's name
	NS      string
	IP      netip.Addr   // InternalIP, on the LAN
	PodCIDR netip.Prefix // spec.podCIDR; routed to IP by every other LAN member
}

// Namespace roles besides the nodes.
const (
	RoleSwitch       = "switch"
	RoleControlPlane = "cp"
	RoleRouter       = "router"
	RoleLANClient    = "lanclient"
	RoleClient       = "client"
)

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{1,11}$`)

// ErrPrefix is returned by New for a prefix that cannot name the lab's namespaces.
type ErrPrefix struct{ Prefix string }

func (e *ErrPrefix) Error() string {
	return fmt.Sprintf("lab name %q: want 2 to 12 lower-case letters and digits, starting with a letter", e.Prefix)
}

// New returns the lab's plan with the given name prefix and number of nodes (1 to 9).
func New(prefix string, nodes int) (Plan, error) {
	if !prefixRE.MatchString(prefix) {
		return Plan{}, &ErrPrefix{Prefix: prefix}
	}
	if nodes < 1 || nodes > 9 {
		return Plan{}, fmt.Errorf("%d nodes: the lab has 1 to 9", nodes)
	}
	p := Plan{
		Prefix:         prefix,
		LAN:            netip.MustParsePrefix("198.18.0.0/24"),
		Router:         netip.MustParseAddr("198.18.0.1"),
		ControlPlane:   netip.MustParseAddr("198.18.0.2"),
		LANClient:      netip.MustParseAddr("198.18.0.100"),
		External:       netip.MustParsePrefix("203.0.113.0/24"),
		RouterExternal: netip.MustParseAddr("203.0.113.1"),
		Client:         netip.MustParseAddr("203.0.113.10"),
		ClusterCIDR:    netip.MustParsePrefix("198.19.0.0/17"),
		ServiceCIDR:    netip.MustParsePrefix("198.19.128.0/20"),
		L2Pool:         "198.18.0.200-198.18.0.250",
		BGPPool:        netip.MustParsePrefix("198.18.100.0/24"),
		RouterASN:      64500,
		NodeASN:        64512,
	}
	dns := p.ServiceCIDR.Addr().As4()
	dns[3] += 10
	p.ClusterDNS = netip.AddrFrom4(dns)
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		p.Nodes = append(p.Nodes, Node{
			Name:    name,
			NS:      p.NS(name),
			IP:      netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}),
			PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i), 0}), 24),
		})
	}
	return p, nil
}

// NS is the name of the namespace of a role ("cp", "router", ...) or node.
func (p Plan) NS(role string) string { return p.Prefix + "-" + role }

// Node returns the node of the given name.
func (p Plan) Node(name string) (Node, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}
