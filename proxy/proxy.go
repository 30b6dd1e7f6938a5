package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/runner"
	"github.com/frontdesk-lb/frontdesk/served"
)

// Config is what a proxy needs; Run and New fill in the defaults documented on each field.
type Config struct {
	// Client reads Services, EndpointSlices and this node. Nil is for tests that feed objects in
	// through the Proxy's Set*/Delete* methods.
	Client kubernetes.Interface
	// NodeName is this node's Node name (required): it picks the local endpoints.
	NodeName string
	// NodePortAddresses limits NodePorts to the node's addresses inside these prefixes. Empty:
	// every local address but loopback.
	NodePortAddresses []netip.Prefix
	// NodeAddressesPeriod is how often the node's addresses are listed again for
	// NodePortAddresses, so that NodePorts follow addresses added or removed later (DHCP, a new
	// interface); a change rewrites only the nodeport-ips set (default 10s). Unused without
	// NodePortAddresses: the kernel's own fib lookup follows the addresses then.
	NodeAddressesPeriod time.Duration
	// ClusterCIDRs are the Pod networks. They let ClusterIP traffic from outside them be
	// masqueraded and let Pods reach externalTrafficPolicy: Local Services cluster-wide. Empty
	// turns both off, as in kube-proxy without --cluster-cidr.
	ClusterCIDRs []netip.Prefix
	// IPFamilies to program (default both).
	IPFamilies []v1.IPFamily
	// TableName names frontdesk's table in each family (default "frontdesk").
	TableName string
	// MinSyncPeriod is the least time between two syncs; changes arriving meanwhile are coalesced
	// into the next one (default 1s, as kube-proxy). A Service gaining an external address is not
	// held back (Proxy.loop).
	MinSyncPeriod time.Duration
	// SyncPeriod forces a full resync this often, repairing anything else changed (default 1h).
	SyncPeriod time.Duration
	// ColdStartChunk bounds the Services per transaction of a full sync (default 1000).
	ColdStartChunk int
	// AllowedExternalIPCIDRs are where spec.externalIPs may point. Empty: no externalIP is
	// programmed, as kube-proxy users get with the DenyServiceExternalIPs admission plugin. Inside
	// them still, an externalIP that is a ClusterIP or another Service's LoadBalancer IP is not
	// programmed (served.Claims.CheckAddrs): a tenant must not take cluster DNS or another tenant's VIP.
	AllowedExternalIPCIDRs []netip.Prefix
	// Limits caps ports per Service and endpoints per Service port (zero fields: served.DefaultLimits).
	Limits served.Limits
	// MasqueradeMark is the packet-mark bit that asks for masquerading (default 0x4000, the bit
	// kube-proxy uses, so that both agree when they run side by side).
	MasqueradeMark uint32
	// HealthzBindAddress serves /healthz; MetricsBindAddress serves /metrics. Empty disables.
	HealthzBindAddress string
	MetricsBindAddress string

	// NFTables opens one family's table (default knftables.New). Tests pass knftables fakes or an
	// nft that runs inside a network namespace.
	NFTables func(family knftables.Family, table string) (knftables.Interface, error)
	// Conntrack removes stale UDP flows (default: the conntrack binary).
	Conntrack Conntrack
	// LocalAddrs lists the node's addresses, for NodePortAddresses (default: net.InterfaceAddrs).
	LocalAddrs func() ([]netip.Addr, error)
	// Listen opens the healthCheckNodePort listeners (default net.Listen).
	Listen func(network, address string) (net.Listener, error)
	// Logger; the zero value means the logger of New's context (klog.FromContext).
	Logger klog.Logger
}

// ErrConfig says a Config cannot be used; the message says which field and what is accepted.
var ErrConfig = errors.New("invalid proxy configuration")

func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		return fmt.Errorf("%w: NodeName is empty; want this node's Node name", ErrConfig)
	}
	if len(c.IPFamilies) == 0 {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
	}
	if c.TableName == "" {
		c.TableName = "frontdesk"
	}
	if c.MinSyncPeriod < 0 || c.SyncPeriod < 0 || c.ColdStartChunk < 0 || c.NodeAddressesPeriod < 0 {
		return fmt.Errorf("%w: MinSyncPeriod, SyncPeriod, ColdStartChunk and NodeAddressesPeriod must not be negative", ErrConfig)
	}
	if c.NodeAddressesPeriod == 0 {
		c.NodeAddressesPeriod = 10 * time.Second
	}
	if c.MinSyncPeriod == 0 {
		c.MinSyncPeriod = time.Second
	}
	if c.SyncPeriod == 0 {
		c.SyncPeriod = time.Hour
	}
	if c.Limits.Ports < 0 || c.Limits.EndpointsPerPort < 0 {
		return fmt.Errorf("%w: Limits must not be negative", ErrConfig)
	}
	if c.Limits.Ports == 0 {
		c.Limits.Ports = served.DefaultLimits.Ports
	}
	if c.Limits.EndpointsPerPort == 0 {
		c.Limits.EndpointsPerPort = served.DefaultLimits.EndpointsPerPort
	}
	for i, pf := range c.AllowedExternalIPCIDRs {
		c.AllowedExternalIPCIDRs[i] = served.UnmapPrefix(pf)
	}
	if c.ColdStartChunk == 0 {
		c.ColdStartChunk = 1000
	}
	if c.MasqueradeMark == 0 {
		c.MasqueradeMark = 0x4000
	}
	if c.MasqueradeMark&(c.MasqueradeMark-1) != 0 {
		return fmt.Errorf("%w: MasqueradeMark %#x has more than one bit set; want a single bit", ErrConfig, c.MasqueradeMark)
	}
	if c.NFTables == nil {
		c.NFTables = func(f knftables.Family, t string) (knftables.Interface, error) { return knftables.New(f, t) }
	}
	if c.Conntrack == nil {
		c.Conntrack = ExecConntrack{}
	}
	if c.LocalAddrs == nil {
		c.LocalAddrs = interfaceAddrs
	}
	if c.Listen == nil {
		c.Listen = net.Listen
	}
	return nil
}

func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

// Proxy programs one node's nftables from Services and EndpointSlices.
type Proxy struct {
	cfg     Config
	log     logr.Logger
	store   *store
	tables  []*table
	opts    []modelOptions // per table
	metrics *proxyMetrics
	health  *health

	// syncMu serializes syncs: the runner's and those callers ask for with Sync.
	syncMu sync.Mutex
	runner *runner.Runner
	// failures counts the runner's failed syncs in a row, for the log; only its runs touch it.
	failures int

	readyOnce sync.Once
	ready     chan struct{}

	mu   sync.RWMutex
	vips map[netip.Addr]bool
	// vipsChanged holds a token when the set Forwards answers for changed (ForwardsChanged).
	vipsChanged chan struct{}
	lastGood    time.Time
	lastErr     error
	// pendingCT are conntrack deletions that failed, or did not fit a sync's batch, and are
	// tried at the next sync (clearConntrack); conntrackTimeout bounds one sync's deletions.
	pendingCT        []FlowFilter
	conntrackTimeout time.Duration
	// orphansChecked: the start-up comparison of the kernel's conntrack table with the
	// endpoints (orphanFlows) was done; only syncs touch it, under syncMu.
	orphansChecked bool
	synced         bool // one sync succeeded: UDP cleanup on an empty-to-some transition is meaningful

	// Test hooks: delivered runs in the informer handlers before each object is stored;
	// onReady runs under syncMu at the instant Ready is closed, with the kernel as it is then.
	delivered func()
	onReady   func()
}

// New checks cfg and opens the tables; nothing is written until Run or Sync.
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log.GetSink() == nil {
		log = klog.FromContext(ctx)
	}
	p := &Proxy{cfg: cfg, log: log.WithName("proxy"), ready: make(chan struct{}), conntrackTimeout: 10 * time.Second,
		vips: map[netip.Addr]bool{}, vipsChanged: make(chan struct{}, 1), metrics: newMetrics()}
	p.runner = p.newRunner()
	p.store = newStore(p.runner.Run, p.runner.Expedite)
	p.store.allowedExternal = cfg.AllowedExternalIPCIDRs
	p.health = newHealth(p)
	var local []netip.Addr
	if len(cfg.NodePortAddresses) > 0 {
		var err error
		if local, err = p.nodePortAddrs(); err != nil {
			return nil, err
		}
	}
	for _, f := range cfg.IPFamilies {
		fam := familyIPv4
		if f == v1.IPv6Protocol {
			fam = familyIPv6
		}
		opts := modelOptions{fam: fam, nodeName: cfg.NodeName, masqueradeMark: cfg.MasqueradeMark, limits: cfg.Limits}
		for _, pf := range cfg.ClusterCIDRs {
			if fam.has(pf.Addr()) {
				opts.podCIDRs = append(opts.podCIDRs, pf.Masked())
			}
		}
		if len(cfg.NodePortAddresses) > 0 {
			opts.nodePortIPs = inFamily(local, fam)
		}
		nft, err := cfg.NFTables(fam.nft, cfg.TableName)
		if err != nil {
			return nil, fmt.Errorf("opening the %s table %q: %w", fam.nft, cfg.TableName, err)
		}
		p.tables = append(p.tables, newTable(fam, nft, opts))
		p.opts = append(p.opts, opts)
	}
	return p, nil
}

// Ready is closed once every table has been fully programmed from synced caches: from then on
// this node forwards every Service it knows. The speaker waits on it before announcing.
func (p *Proxy) Ready() <-chan struct{} { return p.ready }

// Forwards reports whether the kernel holds rules that take traffic for addr (a LoadBalancer
// ingress IP or an externalIP) to an endpoint: with externalTrafficPolicy: Local, only while this
// node has a local endpoint. A speaker announces a VIP only from a node where this is true.
func (p *Proxy) Forwards(addr netip.Addr) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.vips[addr.Unmap()]
}

// ForwardsChanged receives after a sync that changed what Forwards answers (one pending token:
// changes that come before it is taken are one). A speaker that withholds an address until it
// is forwarded rechecks at once, instead of polling.
func (p *Proxy) ForwardsChanged() <-chan struct{} { return p.vipsChanged }

// SetService, DeleteService, SetEndpointSlice, DeleteEndpointSlice and SetNode feed objects in;
// Run's informers call them, and tests or embedders without an API server may call them directly.
func (p *Proxy) SetService(svc *v1.Service) { p.store.setService(svc) }

// SetEndpointSlice records an EndpointSlice (one labelled with its Service's name).
func (p *Proxy) SetEndpointSlice(es *discovery.EndpointSlice) { p.store.setSlice(es) }

// DeleteEndpointSlice forgets an EndpointSlice.
func (p *Proxy) DeleteEndpointSlice(es *discovery.EndpointSlice) { p.store.deleteSlice(es) }

// SetNode records this node's Node object (its zone label, for PreferClose).
func (p *Proxy) SetNode(n *v1.Node) { p.store.setNode(n) }

// DeleteService forgets a Service.
func (p *Proxy) DeleteService(namespace, name string) {
	p.store.deleteService(types.NamespacedName{Namespace: namespace, Name: name})
}

// Sync programs every pending change now, regardless of MinSyncPeriod.
func (p *Proxy) Sync(ctx context.Context) error {
	return p.sync(ctx)
}
