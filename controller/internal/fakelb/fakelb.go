// Package fakelb is a stateful fake cloudprovider.LoadBalancer for tests. It
// models load balancers by name, each with an address, the Service it serves
// and the nodes it sends traffic to, so tests assert effects ("this load
// balancer exists and points at these nodes"), not a script of calls. Errors
// can be injected for the next calls of a method or for one Service, and a
// Service's calls can be held to model a slow provider.
//
// Addresses come from 192.0.2.0/24 (TEST-NET-1, RFC 5737): nothing is ever
// sent to them.
package fakelb

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	cloudprovider "k8s.io/cloud-provider"
)

// Op names a LoadBalancer method, for error injection and call counts.
type Op string

// The methods of cloudprovider.LoadBalancer.
const (
	OpGet    Op = "GetLoadBalancer"
	OpEnsure Op = "EnsureLoadBalancer"
	OpUpdate Op = "UpdateLoadBalancer"
	OpDelete Op = "EnsureLoadBalancerDeleted"
)

// LB is one load balancer held by the fake.
type LB struct {
	Name    string
	Service types.NamespacedName
	UID     types.UID
	// Nodes are the names of the nodes it sends traffic to, sorted.
	Nodes []string
	// Ports are "PROTOCOL/port" of the Service's ports, in spec order.
	Ports []string
	Addr  netip.Addr
}

// Fake implements cloudprovider.LoadBalancer. The zero value is not usable;
// call New.
type Fake struct {
	mu       sync.Mutex
	lbs      map[string]*LB // by name
	free     []netip.Addr   // released addresses, reused first
	next     netip.Addr
	ipMode   *v1.LoadBalancerIPMode
	failNext map[Op][]error
	failFor  map[types.NamespacedName]error
	held     map[types.NamespacedName]chan struct{}
	calls    map[Op]int
}

var _ cloudprovider.LoadBalancer = (*Fake)(nil)

// New returns a fake with no load balancers.
func New() *Fake {
	return &Fake{
		lbs:      map[string]*LB{},
		next:     netip.MustParseAddr("192.0.2.1"),
		failNext: map[Op][]error{},
		failFor:  map[types.NamespacedName]error{},
		held:     map[types.NamespacedName]chan struct{}{},
		calls:    map[Op]int{},
	}
}

// SetIPMode makes statuses carry mode; by default ipMode is left unset, as
// many providers do, and the API server defaults it to VIP.
func (f *Fake) SetIPMode(mode *v1.LoadBalancerIPMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ipMode = mode
}

// FailNext makes the next n calls of op fail with err.
func (f *Fake) FailNext(op Op, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failNext[op] = append(f.failNext[op], err)
	}
}

// FailFor makes every Ensure, Update and Delete call for svc fail with err
// until ClearFailures.
func (f *Fake) FailFor(svc types.NamespacedName, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failFor[svc] = err
}

// ClearFailures drops every injected error.
func (f *Fake) ClearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.failNext)
	clear(f.failFor)
}

// Hold makes calls for svc wait until release is called (or their context
// ends), modelling a slow cloud API.
func (f *Fake) Hold(svc types.NamespacedName) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.held[svc] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.held[svc] == ch {
				delete(f.held, svc)
			}
			close(ch)
		})
	}
}

// Calls returns how many times op was called, failed calls included.
func (f *Fake) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// LoadBalancers returns copies of the load balancers that exist now, sorted by
// Service.
func (f *Fake) LoadBalancers() []LB {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]LB, 0, len(f.lbs))
	for _, lb := range f.lbs {
		out = append(out, copyLB(lb))
	}
	slices.SortFunc(out, func(a, b LB) int { return strings.Compare(a.Service.String(), b.Service.String()) })
	return out
}

// Get returns the load balancer of the Service named svc, if one exists.
func (f *Fake) Get(svc types.NamespacedName) (LB, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, lb := range f.lbs {
		if lb.Service == svc {
			return copyLB(lb), true
		}
	}
	return LB{}, false
}

func copyLB(lb *LB) LB {
	c := *lb
	c.Nodes = slices.Clone(lb.Nodes)
	c.Ports = slices.Clone(lb.Ports)
	return c
}

// begin counts a call, waits while the Service is held, and returns the error
// injected for it, if any.
func (f *Fake) begin(ctx context.Context, op Op, svc *v1.Service) error {
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	f.mu.Lock()
	f.calls[op]++
	hold := f.held[key]
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if errs := f.failNext[op]; len(errs) > 0 {
		f.failNext[op] = errs[1:]
		return errs[0]
	}
	if op != OpGet {
		return f.failFor[key]
	}
	return nil
}

// GetLoadBalancerName names a load balancer after its Service's UID, as
// cloud-provider's default does.
func (f *Fake) GetLoadBalancerName(_ context.Context, _ string, svc *v1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// GetLoadBalancer implements cloudprovider.LoadBalancer.
func (f *Fake) GetLoadBalancer(ctx context.Context, _ string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	if err := f.begin(ctx, OpGet, svc); err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lb, ok := f.lbs[cloudprovider.DefaultLoadBalancerName(svc)]
	if !ok {
		return nil, false, nil
	}
	return f.statusLocked(lb), true, nil
}

// EnsureLoadBalancer creates the load balancer or brings it in line with svc
// and nodes. Its address is kept for its whole life.
func (f *Fake) EnsureLoadBalancer(ctx context.Context, _ string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	if err := f.begin(ctx, OpEnsure, svc); err != nil {
		return nil, err
	}
	if len(svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("fakelb: Service %s/%s has no ports; accepted: at least one", svc.Namespace, svc.Name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := cloudprovider.DefaultLoadBalancerName(svc)
	lb, ok := f.lbs[name]
	if !ok {
		lb = &LB{Name: name, Addr: f.allocateLocked()}
		f.lbs[name] = lb
	}
	lb.Service = types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	lb.UID = svc.UID
	lb.Nodes = nodeNames(nodes)
	lb.Ports = lb.Ports[:0]
	for _, p := range svc.Spec.Ports {
		lb.Ports = append(lb.Ports, fmt.Sprintf("%s/%d", p.Protocol, p.Port))
	}
	return f.statusLocked(lb), nil
}

// UpdateLoadBalancer changes the nodes of an existing load balancer; like a
// real cloud, it fails for one that does not exist.
func (f *Fake) UpdateLoadBalancer(ctx context.Context, _ string, svc *v1.Service, nodes []*v1.Node) error {
	if err := f.begin(ctx, OpUpdate, svc); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lb, ok := f.lbs[cloudprovider.DefaultLoadBalancerName(svc)]
	if !ok {
		return fmt.Errorf("fakelb: no load balancer for Service %s/%s to update", svc.Namespace, svc.Name)
	}
	lb.Nodes = nodeNames(nodes)
	return nil
}

// EnsureLoadBalancerDeleted deletes the load balancer if it exists.
func (f *Fake) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *v1.Service) error {
	if err := f.begin(ctx, OpDelete, svc); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := cloudprovider.DefaultLoadBalancerName(svc)
	if lb, ok := f.lbs[name]; ok {
		f.free = append(f.free, lb.Addr)
		delete(f.lbs, name)
	}
	return nil
}

func (f *Fake) allocateLocked() netip.Addr {
	if len(f.free) > 0 {
		a := f.free[0]
		f.free = f.free[1:]
		return a
	}
	a := f.next
	f.next = f.next.Next()
	return a
}

func (f *Fake) statusLocked(lb *LB) *v1.LoadBalancerStatus {
	in := v1.LoadBalancerIngress{IP: lb.Addr.String()}
	if f.ipMode != nil {
		mode := *f.ipMode
		in.IPMode = &mode
	}
	return &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{in}}
}

func nodeNames(nodes []*v1.Node) []string {
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// Cloud is a cloudprovider.Interface whose only feature is a Fake load
// balancer, for wiring tests that need a registered provider.
type Cloud struct {
	Name string
	LB   *Fake
}

var _ cloudprovider.Interface = (*Cloud)(nil)

// Factory returns a cloudprovider.Factory that hands out c, for
// cloudprovider.RegisterCloudProvider.
func (c *Cloud) Factory() cloudprovider.Factory {
	return func(io.Reader) (cloudprovider.Interface, error) { return c, nil }
}

// Initialize implements cloudprovider.Interface; the fake needs no client.
func (c *Cloud) Initialize(cloudprovider.ControllerClientBuilder, <-chan struct{}) {}

// LoadBalancer implements cloudprovider.Interface.
func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c.LB, true }

// Instances implements cloudprovider.Interface: not supported.
func (c *Cloud) Instances() (cloudprovider.Instances, bool) { return nil, false }

// InstancesV2 implements cloudprovider.Interface: not supported.
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool) { return nil, false }

// Zones implements cloudprovider.Interface: not supported.
func (c *Cloud) Zones() (cloudprovider.Zones, bool) { return nil, false }

// Clusters implements cloudprovider.Interface: not supported.
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool) { return nil, false }

// Routes implements cloudprovider.Interface: not supported.
func (c *Cloud) Routes() (cloudprovider.Routes, bool) { return nil, false }

// ProviderName implements cloudprovider.Interface.
func (c *Cloud) ProviderName() string { return c.Name }

// HasClusterID implements cloudprovider.Interface.
func (c *Cloud) HasClusterID() bool { return true }
