package baremetal

import (
	"context"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
)

// The kubelet (run with --cloud-provider=external and --node-ip) records the addresses it was given
// in this annotation, for the cloud node controller to confirm.
const annotationProvidedNodeIP = "alpha.kubernetes.io/provided-node-ip"

// instances implements cloudprovider.InstancesV2 for machines that no API can ask about. It answers
// from what the Node itself says, and never declares a machine gone or shut down: on bare metal a
// Node is deleted by its admin, not by a cloud controller that lost sight of it.
type instances struct{}

var _ cloudprovider.InstancesV2 = instances{}

// ProviderIDPrefix starts the provider ID of Nodes that have none yet: baremetal://<node name>.
const ProviderIDPrefix = "baremetal://"

func (instances) InstanceExists(context.Context, *v1.Node) (bool, error) { return true, nil }

func (instances) InstanceShutdown(context.Context, *v1.Node) (bool, error) { return false, nil }

func (instances) InstanceMetadata(_ context.Context, node *v1.Node) (*cloudprovider.InstanceMetadata, error) {
	md := &cloudprovider.InstanceMetadata{
		ProviderID:   node.Spec.ProviderID,
		InstanceType: node.Labels[v1.LabelInstanceTypeStable],
		Zone:         node.Labels[v1.LabelTopologyZone],
		Region:       node.Labels[v1.LabelTopologyRegion],
	}
	if md.ProviderID == "" {
		md.ProviderID = ProviderIDPrefix + node.Name
	}
	if md.InstanceType == "" {
		md.InstanceType = "baremetal"
	}
	md.NodeAddresses = nodeAddresses(node)
	return md, nil
}

// nodeAddresses returns the kubelet-provided addresses as InternalIP, then the addresses the Node
// already reports, then its hostname: the cloud node controller keeps only those matching the
// provided IP, so they must be in the list.
func nodeAddresses(node *v1.Node) []v1.NodeAddress {
	var out []v1.NodeAddress
	seen := map[v1.NodeAddress]bool{}
	add := func(a v1.NodeAddress) {
		if a.Address != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, s := range strings.Split(node.Annotations[annotationProvidedNodeIP], ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			add(v1.NodeAddress{Type: v1.NodeInternalIP, Address: a.String()})
		}
	}
	for _, a := range node.Status.Addresses {
		add(a)
	}
	add(v1.NodeAddress{Type: v1.NodeHostName, Address: node.Name})
	return out
}
