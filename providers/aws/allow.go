package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
)

// checkAllowed refuses what the Service's annotations name beyond the cloud
// config's allow list (config.Allow): a certificate, an Elastic IP or a
// load-balancer or target-group attribute. It runs before any call that
// changes AWS; only Elastic IPs allowed by their tags cost a call, a
// DescribeAddresses. All refusals are returned together.
func (c *Cloud) checkAllowed(ctx context.Context, svc *v1.Service, spec *annotations.Spec) error {
	allow := &c.cfg.Allow
	var errs []error
	for _, arn := range spec.Certificates {
		if !allow.CertificateAllowed(arn) {
			errs = append(errs, &annotations.NotAllowedError{Name: annotations.SSLCert, Item: arn, Rule: "allow.certificateARNPrefixes"})
		}
	}
	for _, k := range sortedKeys(spec.LBAttributes) {
		if allow.LoadBalancerAttributeAllowed(k) {
			continue
		}
		e := &annotations.NotAllowedError{Name: annotations.LBAttributes, Item: k, Rule: "allow.loadBalancerAttributes"}
		if k == config.DeletionProtection {
			e.Why = "with deletion protection the load balancer cannot be deleted, and neither can the Service"
		}
		errs = append(errs, e)
	}
	for _, k := range sortedKeys(spec.TGAttributes) {
		if !allow.TargetGroupAttributeAllowed(k) {
			errs = append(errs, &annotations.NotAllowedError{Name: annotations.TGAttributes, Item: k, Rule: "allow.targetGroupAttributes"})
		}
	}
	var byTag []string
	for _, id := range spec.EIPAllocations {
		if !allow.EIPAllowedByID(id) {
			byTag = append(byTag, id)
		}
	}
	if len(errs) > 0 || len(byTag) == 0 {
		// Refused already: no need to ask AWS about the Elastic IPs.
		for _, id := range byTag {
			errs = append(errs, eipNotAllowed(id))
		}
		return errors.Join(errs...)
	}
	tagged, err := c.eipsTagged(ctx, byTag, allow.EIPTags(svc.Namespace))
	if err != nil {
		return err
	}
	for _, id := range byTag {
		if !tagged[id] {
			errs = append(errs, eipNotAllowed(id))
		}
	}
	return errors.Join(errs...)
}

// eipNotAllowed does not say whether the Elastic IP exists: that is not the
// tenant's to learn.
func eipNotAllowed(id string) error {
	return &annotations.NotAllowedError{Name: annotations.EIPAllocations, Item: id, Rule: "allow.eipAllocationIDs and allow.eipAllocationTags"}
}

// eipsTagged returns which of ids carry every tag in want. Filters, not
// AllocationIds, so that an unknown ID is simply absent rather than an
// InvalidAllocationID.NotFound for the whole call.
func (c *Cloud) eipsTagged(ctx context.Context, ids []string, want map[string]string) (map[string]bool, error) {
	if len(want) == 0 {
		return nil, nil
	}
	filters := []ec2types.Filter{{Name: aws.String("allocation-id"), Values: slices.Clone(ids)}}
	for _, k := range sortedKeys(want) {
		filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{want[k]}})
	}
	out, err := c.api.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of the Elastic IPs in %s: %w", annotations.EIPAllocations, err)
	}
	found := map[string]bool{}
	for _, a := range out.Addresses {
		// The filters did the matching; check again rather than trust them.
		if t := ec2Tags(a.Tags); tagsInclude(t, want) {
			found[aws.ToString(a.AllocationId)] = true
		}
	}
	return found, nil
}

func tagsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
