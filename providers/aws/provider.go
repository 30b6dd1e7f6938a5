// Package aws is frontdesk's AWS cloud provider: network (default) and classic
// load balancers for Services of type LoadBalancer, and InstancesV2 from EC2.
// See docs/aws.md for the annotations and the cloud config.
//
// EnsureLoadBalancer parses the annotations (a bad one, or one naming a
// certificate, Elastic IP or attribute the cloud config's allow list does not
// allow, stops it before any AWS call that changes state), builds the desired
// model (package model) and converges AWS to it: security group, then load balancer, target groups, listeners and
// targets. Every resource carries kubernetes.io/cluster/<cluster>=owned and
// the Service's namespace, name and UID; only resources so tagged are ever
// deleted. Changes AWS cannot make in place (load-balancer type, scheme,
// target type...) give a resource with a new name, and the old one is deleted
// once traffic has moved. A periodic sweep, which finds the cluster's
// resources through the Tagging API, deletes what a killed process or a
// Service deleted behind our back left behind. Errors reach the Service's
// Events as PublicErrors: frontdesk's words and AWS's error code, never AWS's
// message with its account IDs and ARNs, which go to the log.
package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	v1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/controller/service"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// ProviderName is the value of --cloud-provider that selects this provider.
const ProviderName = "aws"

func init() {
	cloudprovider.RegisterCloudProvider(ProviderName, func(r io.Reader) (cloudprovider.Interface, error) {
		cfg, err := config.Read(r)
		if err != nil {
			return nil, err
		}
		awsapi.RegisterMetrics()
		registerMetrics()
		clients, err := awsapi.New(context.Background(), cfg, awsapi.Options{})
		if err != nil {
			return nil, err
		}
		return New(cfg, clients, Options{}), nil
	})
}

// Options are what tests replace; the zero value is production.
type Options struct {
	// Endpoints returns the ready Pod addresses of a Service, for ip targets.
	// SetInformers sets it from the controller manager's EndpointSlice
	// informer.
	Endpoints func(namespace, name string) ([]model.Endpoint, error)
	// SubnetTTL is how long the VPC's subnets are reused between reconciles (default 1 minute).
	SubnetTTL time.Duration
}

// Cloud is the AWS cloudprovider.Interface.
type Cloud struct {
	cfg  *config.Config
	api  *awsapi.Clients
	opts Options

	mu        sync.Mutex
	cluster   string // cfg.ClusterName, or the controller's --cluster-name once seen
	vpcID     string
	subnets   []model.Subnet
	subnetsAt time.Time
	sweeper   *sweeper
	backend   backendState
	// shared are the controller manager's informers (SetInformers);
	// informersSet is closed once they are.
	shared       *sharedInformers
	informersSet chan struct{}
}

var (
	_ cloudprovider.Interface    = (*Cloud)(nil)
	_ cloudprovider.LoadBalancer = (*Cloud)(nil)
	_ cloudprovider.InformerUser = (*Cloud)(nil)
	_ service.EndpointsFollower  = (*Cloud)(nil)
)

// New returns a provider using clients.
func New(cfg *config.Config, clients *awsapi.Clients, opts Options) *Cloud {
	if opts.SubnetTTL == 0 {
		opts.SubnetTTL = time.Minute
	}
	return &Cloud{cfg: cfg, api: clients, opts: opts, cluster: cfg.ClusterName, vpcID: cfg.VPCID,
		informersSet: make(chan struct{})}
}

func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c, true }
func (c *Cloud) Instances() (cloudprovider.Instances, bool)       { return nil, false }
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool)   { return &instances{c: c}, true }
func (c *Cloud) Zones() (cloudprovider.Zones, bool)               { return nil, false }
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool)         { return nil, false }
func (c *Cloud) Routes() (cloudprovider.Routes, bool)             { return nil, false }
func (c *Cloud) ProviderName() string                             { return ProviderName }
func (c *Cloud) HasClusterID() bool                               { return c.cfg.ClusterName != "" }

// clusterName prefers the cloud config's name, so that ownership never
// depends on a flag that may differ between two controller versions.
func (c *Cloud) clusterName(fromController string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cluster == "" {
		c.cluster = fromController
	}
	return c.cluster
}

// GetLoadBalancer reports the Service's current load balancer.
func (c *Cloud) GetLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	st, ok, err := c.getLoadBalancer(ctx, clusterName, svc)
	return st, ok, public(ctx, svc, "get", err)
}

func (c *Cloud) getLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	items, err := c.resourcesOf(ctx, c.clusterName(clusterName), svc)
	if err != nil {
		return nil, false, err
	}
	for _, it := range items {
		if it.Kind != model.ResourceLoadBalancer {
			continue
		}
		dns, err := c.dnsName(ctx, it)
		if err != nil {
			return nil, false, err
		}
		return &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{Hostname: dns}}}, true, nil
	}
	return nil, false, nil
}

// GetLoadBalancerName is the name the Service's load balancer has (or would have).
func (c *Cloud) GetLoadBalancerName(_ context.Context, clusterName string, svc *v1.Service) string {
	spec, _ := annotations.Parse(svc.Annotations) // a bad Service has no load balancer; the name is still defined
	return model.LoadBalancerName(c.clusterName(clusterName), svc, spec)
}

// EnsureLoadBalancer converges the Service's load balancer and returns its
// hostname. Like every call for one Service, it is never made twice at once:
// the service controller's queue serialises them. Its errors are
// PublicErrors: the service controller shows them in the Service's Events.
func (c *Cloud) EnsureLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	st, err := c.ensureLoadBalancer(ctx, clusterName, svc, nodes)
	return st, public(ctx, svc, "ensure", err)
}

func (c *Cloud) ensureLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	cluster := c.clusterName(clusterName)
	desired, err := c.desired(ctx, cluster, svc, nodes)
	if err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx).WithValues("loadBalancer", desired.Name)
	r := &reconcile{c: c, cluster: cluster, vpc: c.vpc(), lb: desired, status: svc.Status.LoadBalancer, logger: logger}
	dns, err := r.run(ctx)
	if err != nil {
		return nil, err
	}
	return &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{Hostname: dns}}}, nil
}

// UpdateLoadBalancer follows a change of the node set: the same convergence,
// which touches only the targets when nothing else changed.
func (c *Cloud) UpdateLoadBalancer(ctx context.Context, clusterName string, svc *v1.Service, nodes []*v1.Node) error {
	_, err := c.EnsureLoadBalancer(ctx, clusterName, svc, nodes)
	return err
}

// EnsureLoadBalancerDeleted deletes every resource tagged for the Service,
// whatever state a previous run left them in. It does not read the
// annotations: a Service with bad ones is still cleaned up.
func (c *Cloud) EnsureLoadBalancerDeleted(ctx context.Context, clusterName string, svc *v1.Service) error {
	return public(ctx, svc, "delete", c.ensureLoadBalancerDeleted(ctx, clusterName, svc))
}

func (c *Cloud) ensureLoadBalancerDeleted(ctx context.Context, clusterName string, svc *v1.Service) error {
	cluster := c.clusterName(clusterName)
	if svc.UID == "" {
		return errors.New("the Service has no UID; its resources cannot be told from others")
	}
	items, err := c.resourcesOf(ctx, cluster, svc)
	if err != nil {
		return err
	}
	return c.deleteOwned(ctx, items)
}

// desired parses and models; errors from the annotations and the allow list
// come before any AWS call that changes state.
func (c *Cloud) desired(ctx context.Context, cluster string, svc *v1.Service, nodes []*v1.Node) (*model.LoadBalancer, error) {
	spec, err := annotations.Parse(svc.Annotations)
	if err != nil {
		return nil, err
	}
	if svc.UID == "" {
		return nil, errors.New("the Service has no UID")
	}
	if err := c.checkAllowed(ctx, svc, spec); err != nil {
		return nil, err
	}
	subnets, err := c.vpcSubnets(ctx)
	if err != nil {
		return nil, err
	}
	in := model.Input{Cluster: cluster, Service: svc, Spec: spec, Nodes: nodes, Subnets: subnets, Config: c.cfg}
	c.mu.Lock()
	endpoints := c.opts.Endpoints
	c.mu.Unlock()
	if spec.TargetType == annotations.TargetIP && endpoints != nil {
		if in.Endpoints, err = endpoints(svc.Namespace, svc.Name); err != nil {
			return nil, fmt.Errorf("reading the Service's endpoints: %w", err)
		}
	}
	return model.Build(in)
}

func (c *Cloud) vpc() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vpcID
}

// vpcSubnets returns the VPC's subnets, described at most once per SubnetTTL
// for all reconciles together: subnets rarely change, and DescribeSubnets
// for every Service would spend the EC2 budget for nothing.
func (c *Cloud) vpcSubnets(ctx context.Context) ([]model.Subnet, error) {
	c.mu.Lock()
	if c.subnets != nil && time.Since(c.subnetsAt) < c.opts.SubnetTTL {
		defer c.mu.Unlock()
		return c.subnets, nil
	}
	vpc, cluster := c.vpcID, c.cluster
	c.mu.Unlock()

	in := &ec2.DescribeSubnetsInput{}
	if vpc != "" {
		in.Filters = []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}
	} else {
		// No VPC configured: the one holding the subnets tagged for the cluster.
		in.Filters = []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{model.ClusterTag(cluster)}}}
	}
	var out []model.Subnet
	p := ec2.NewDescribeSubnetsPaginator(c.api.EC2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing subnets: %w", err)
		}
		for _, s := range page.Subnets {
			if vpc == "" {
				vpc = aws.ToString(s.VpcId)
			}
			if aws.ToString(s.VpcId) != vpc {
				continue
			}
			out = append(out, model.Subnet{ID: aws.ToString(s.SubnetId), Zone: aws.ToString(s.AvailabilityZone), Tags: ec2Tags(s.Tags)})
		}
	}
	if vpc == "" {
		return nil, fmt.Errorf("no VPC: set vpcID in the cloud config or tag the cluster's subnets with %s", model.ClusterTag(cluster))
	}
	c.mu.Lock()
	c.vpcID, c.subnets, c.subnetsAt = vpc, out, time.Now()
	c.mu.Unlock()
	return out, nil
}
