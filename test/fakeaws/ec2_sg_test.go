package fakeaws_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func tcp(port int32, cidrs []string, groups ...string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, c := range cidrs {
		p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(c)})
	}
	for _, g := range groups {
		p.UserIdGroupPairs = append(p.UserIdGroupPairs, types.UserIdGroupPair{GroupId: aws.String(g)})
	}
	return p
}

// flatRules renders a group's ingress as sorted "proto from-to peer" lines.
func flatRules(g types.SecurityGroup) []string {
	var out []string
	for _, p := range g.IpPermissions {
		head := fmt.Sprintf("%s %d-%d", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort))
		for _, r := range p.IpRanges {
			out = append(out, head+" "+aws.ToString(r.CidrIp))
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, head+" "+aws.ToString(r.CidrIpv6))
		}
		for _, r := range p.UserIdGroupPairs {
			out = append(out, head+" "+aws.ToString(r.GroupId))
		}
	}
	sort.Strings(out)
	return out
}

func TestSecurityGroupLifecycle(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()

	create := func(name string) (string, error) {
		out, err := c.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(name), Description: aws.String("lb " + name), VpcId: aws.String(w.vpc),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup,
				Tags: []types.Tag{{Key: aws.String("frontdesk.dev/service"), Value: aws.String("default/" + name)}}}},
		})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.GroupId), nil
	}
	lbGroup, err := create("web")
	if err != nil {
		t.Fatal(err)
	}
	nodeGroup, err := create("nodes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create("web"); errCode(err) != "InvalidGroup.Duplicate" {
		t.Errorf("duplicate create: got %v, want InvalidGroup.Duplicate", err)
	}

	steps := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"authorize cidrs", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(lbGroup),
				IpPermissions: []types.IpPermission{tcp(443, []string{"0.0.0.0/0", "10.1.0.0/16"})}})
			return err
		}, ""},
		{"authorize duplicate", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(lbGroup),
				IpPermissions: []types.IpPermission{tcp(443, []string{"10.1.0.0/16"})}})
			return err
		}, "InvalidPermission.Duplicate"},
		{"authorize group reference", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(nodeGroup),
				IpPermissions: []types.IpPermission{tcp(30080, nil, lbGroup)}})
			return err
		}, ""},
		{"authorize reference to a missing group", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(nodeGroup),
				IpPermissions: []types.IpPermission{tcp(30080, nil, "sg-0000000000000000f")}})
			return err
		}, "InvalidGroup.NotFound"},
		{"revoke one cidr", func() error {
			_, err := c.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(lbGroup),
				IpPermissions: []types.IpPermission{tcp(443, []string{"10.1.0.0/16"})}})
			return err
		}, ""},
		{"revoke a missing rule", func() error {
			_, err := c.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(lbGroup),
				IpPermissions: []types.IpPermission{tcp(80, []string{"10.1.0.0/16"})}})
			return err
		}, "InvalidPermission.NotFound"},
		{"delete a referenced group", func() error {
			_, err := c.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(lbGroup)})
			return err
		}, "DependencyViolation"},
	}
	for _, s := range steps {
		if d := cmp.Diff(s.wantErr, errCode(s.call())); d != "" {
			t.Fatalf("%s: error code (-want +got)\n%s", s.name, d)
		}
	}

	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{filter("tag-key", "frontdesk.dev/service")}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, g := range out.SecurityGroups {
		got[aws.ToString(g.GroupName)] = flatRules(g)
	}
	want := map[string][]string{
		"web":   {"tcp 443-443 0.0.0.0/0"},
		"nodes": {"tcp 30080-30080 " + lbGroup},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rules (-want +got)\n%s", d)
	}

	for _, g := range []string{nodeGroup, lbGroup} {
		if _, err := c.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(g)}); err != nil {
			t.Fatalf("delete %s: %v", g, err)
		}
	}
	if created := srv.Created(); len(created) != 0 {
		t.Errorf("leaked: %+v", created)
	}
	_, err = c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{lbGroup}})
	if d := cmp.Diff("InvalidGroup.NotFound", errCode(err)); d != "" {
		t.Errorf("describe deleted (-want +got)\n%s", d)
	}
}

func defaultGroup(t *testing.T, c clients, w world) string {
	t.Helper()
	out, err := c.ec2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{filter("vpc-id", w.vpc), filter("group-name", "default")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d default groups in %s, want 1", len(out.SecurityGroups), w.vpc)
	}
	return aws.ToString(out.SecurityGroups[0].GroupId)
}
