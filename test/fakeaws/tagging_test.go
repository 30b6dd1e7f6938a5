package fakeaws_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func newTagging(srv *fakeaws.Server) *tagging.Client {
	return tagging.New(tagging.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Retryer: fastRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "secret", "")})
}

// getAll pages through GetResources and returns "ARN k=v,k=v" lines.
func getAll(t *testing.T, c *tagging.Client, in *tagging.GetResourcesInput) []string {
	t.Helper()
	var out []string
	p := tagging.NewGetResourcesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.ResourceTagMappingList {
			var tags []string
			for _, tg := range m.Tags {
				tags = append(tags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
			}
			out = append(out, aws.ToString(m.ResourceARN)+" "+strings.Join(tags, ","))
		}
	}
	return out
}

// TestTaggingGetResources: the Resource Groups Tagging API lists resources
// of every modelled service by tag and type, pages, and fails like AWS.
func TestTaggingGetResources(t *testing.T) {
	srv := fakeaws.Start(t)
	c := newClients(t, srv)
	w := seed(srv)
	lb := createNLB(t, c, w, "web")
	ctx := context.Background()
	tg, err := c.elbv2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web-tg"), Protocol: types.ProtocolEnumTcp,
		Port: aws.Int32(30080), VpcId: aws.String(w.vpc), Tags: []types.Tag{{Key: aws.String("frontdesk.dev/service"), Value: aws.String("default/web")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String("classic"), Subnets: []string{w.subnetA},
		Listeners: []elbtypes.Listener{{Protocol: aws.String("TCP"), LoadBalancerPort: 80, InstancePort: aws.Int32(30080)}},
		Tags:      []elbtypes.Tag{{Key: aws.String("frontdesk.dev/service"), Value: aws.String("default/classic")}}}); err != nil {
		t.Fatal(err)
	}
	tgc := newTagging(srv)

	got := getAll(t, tgc, &tagging.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{{Key: aws.String("frontdesk.dev/service")}},
		ResourcesPerPage: aws.Int32(1)})
	want := []string{
		"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/classic frontdesk.dev/service=default/classic",
		aws.ToString(lb.LoadBalancerArn) + " frontdesk.dev/service=default/web",
		aws.ToString(tg.TargetGroups[0].TargetGroupArn) + " frontdesk.dev/service=default/web",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("by tag key, one per page:\n got %q\nwant %q", got, want)
	}
	if calls := srv.Calls(); calls[len(calls)-1].Service != fakeaws.Tagging || calls[len(calls)-1].Mutating {
		t.Errorf("last call %+v, want a non-mutating Tagging call", calls[len(calls)-1])
	}

	got = getAll(t, tgc, &tagging.GetResourcesInput{ResourceTypeFilters: []string{"elasticloadbalancing:targetgroup", "ec2:elastic-ip"}})
	want = []string{aws.ToString(tg.TargetGroups[0].TargetGroupArn) + " frontdesk.dev/service=default/web",
		"arn:aws:ec2:us-east-1:123456789012:elastic-ip/" + w.eip + " Name=lb-ip"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("by type:\n got %q\nwant %q", got, want)
	}

	got = getAll(t, tgc, &tagging.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{
		{Key: aws.String("frontdesk.dev/service"), Values: []string{"default/web"}},
		{Key: aws.String("Name")}}})
	if len(got) != 0 {
		t.Errorf("two filters must both match; got %q", got)
	}
	got = getAll(t, tgc, &tagging.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{{Key: aws.String("Name"), Values: []string{"node-b", "main"}}}})
	if len(got) != 2 || !strings.Contains(got[0]+got[1], ":instance/"+w.nodeB) || !strings.Contains(got[0]+got[1], ":vpc/"+w.vpc) {
		t.Errorf("by one of several values: %q", got)
	}

	if _, err := tgc.GetResources(ctx, &tagging.GetResourcesInput{PaginationToken: aws.String("forged")}); errCode(err) != "InvalidParameterException" {
		t.Errorf("forged token: %v, want InvalidParameterException", err)
	}
	srv.Deny("tag:GetResources")
	_, err = tgc.GetResources(ctx, &tagging.GetResourcesInput{})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "tag:GetResources") {
		t.Errorf("denied: %v, want AccessDeniedException naming tag:GetResources", err)
	}
	srv.Allow("tag:GetResources")
	srv.Throttle("tagging:GetResources", 1)
	if _, err := tgc.GetResources(ctx, &tagging.GetResourcesInput{}); err != nil {
		t.Errorf("one throttle must be retried by the SDK: %v", err)
	}
	// An action the fake does not model fails as the Tagging API fails it.
	if _, err := tgc.GetTagKeys(ctx, &tagging.GetTagKeysInput{}); errCode(err) != "UnknownOperationException" || !strings.Contains(err.Error(), "GetTagKeys") {
		t.Errorf("unmodelled action: %v, want UnknownOperationException naming GetTagKeys", err)
	}
}
