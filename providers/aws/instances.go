package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	v1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// instances is InstancesV2 from EC2. A Node is found by its provider ID
// (aws:///<zone>/<instance-id>) or, before it has one, by its name as the
// instance's private DNS name.
type instances struct{ c *Cloud }

var _ cloudprovider.InstancesV2 = (*instances)(nil)

// errNoInstance means EC2 does not know the Node's instance.
var errNoInstance = errors.New("no EC2 instance")

func (i *instances) InstanceExists(ctx context.Context, node *v1.Node) (bool, error) {
	inst, err := i.find(ctx, node)
	if errors.Is(err, errNoInstance) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return inst.State == nil || inst.State.Name != ec2types.InstanceStateNameTerminated, nil
}

// InstanceShutdown says whether the instance is stopped (or stopping): the
// node lifecycle controller then taints the Node rather than deleting it.
func (i *instances) InstanceShutdown(ctx context.Context, node *v1.Node) (bool, error) {
	inst, err := i.find(ctx, node)
	if err != nil {
		return false, err
	}
	if inst.State == nil {
		return false, nil
	}
	switch inst.State.Name {
	case ec2types.InstanceStateNameStopped, ec2types.InstanceStateNameStopping, ec2types.InstanceStateNameShuttingDown:
		return true, nil
	}
	return false, nil
}

func (i *instances) InstanceMetadata(ctx context.Context, node *v1.Node) (*cloudprovider.InstanceMetadata, error) {
	inst, err := i.find(ctx, node)
	if err != nil {
		return nil, err
	}
	zone := ""
	if inst.Placement != nil {
		zone = aws.ToString(inst.Placement.AvailabilityZone)
	}
	md := &cloudprovider.InstanceMetadata{
		ProviderID:    fmt.Sprintf("aws:///%s/%s", zone, aws.ToString(inst.InstanceId)),
		InstanceType:  string(inst.InstanceType),
		Zone:          zone,
		Region:        regionOf(zone),
		NodeAddresses: addresses(inst),
	}
	return md, nil
}

// regionOf strips the zone letter (eu-west-1a → eu-west-1); Local Zones and
// Wavelength zones (us-east-1-bos-1a) keep their parent region's prefix.
func regionOf(zone string) string {
	if zone == "" {
		return ""
	}
	parts := strings.Split(zone, "-")
	if len(parts) >= 3 {
		last := parts[2]
		for len(last) > 0 && last[len(last)-1] >= 'a' && last[len(last)-1] <= 'z' {
			last = last[:len(last)-1]
		}
		return parts[0] + "-" + parts[1] + "-" + last
	}
	return strings.TrimRight(zone, "abcdefghijklmnopqrstuvwxyz")
}

func addresses(inst *ec2types.Instance) []v1.NodeAddress {
	var out []v1.NodeAddress
	seen := map[v1.NodeAddress]bool{}
	add := func(t v1.NodeAddressType, a *string) {
		na := v1.NodeAddress{Type: t, Address: aws.ToString(a)}
		if na.Address != "" && !seen[na] {
			seen[na] = true
			out = append(out, na)
		}
	}
	add(v1.NodeInternalIP, inst.PrivateIpAddress)
	for _, ni := range inst.NetworkInterfaces {
		for _, ip := range ni.PrivateIpAddresses {
			add(v1.NodeInternalIP, ip.PrivateIpAddress)
		}
		for _, ip := range ni.Ipv6Addresses {
			add(v1.NodeInternalIP, ip.Ipv6Address)
		}
	}
	add(v1.NodeExternalIP, inst.PublicIpAddress)
	add(v1.NodeInternalDNS, inst.PrivateDnsName)
	add(v1.NodeHostName, inst.PrivateDnsName)
	add(v1.NodeExternalDNS, inst.PublicDnsName)
	return out
}

func (i *instances) find(ctx context.Context, node *v1.Node) (*ec2types.Instance, error) {
	in := &ec2.DescribeInstancesInput{}
	if node.Spec.ProviderID != "" {
		id, err := model.InstanceID(node.Spec.ProviderID)
		if err != nil {
			return nil, err
		}
		in.InstanceIds = []string{id}
	} else {
		in.Filters = []ec2types.Filter{{Name: aws.String("private-dns-name"), Values: []string{node.Name}}}
	}
	out, err := i.c.api.EC2.DescribeInstances(ctx, in)
	if errorCode(err) == "InvalidInstanceID.NotFound" {
		return nil, fmt.Errorf("node %s: %w", node.Name, errNoInstance)
	}
	if err != nil {
		return nil, fmt.Errorf("describing the instance of node %s: %w", node.Name, err)
	}
	for _, r := range out.Reservations {
		for k := range r.Instances {
			return &r.Instances[k], nil
		}
	}
	return nil, fmt.Errorf("node %s: %w", node.Name, errNoInstance)
}
