package fakeaws_test

import (
	"context"
	"net/netip"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// instanceView is what a cloud controller's InstancesV2 reads.
type instanceView struct {
	ID, Type, Zone, State, PrivateIP, PrivateDNS, VPC, Subnet, Name string
}

func viewInstances(out *ec2.DescribeInstancesOutput) []instanceView {
	var got []instanceView
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			v := instanceView{ID: aws.ToString(i.InstanceId), Type: string(i.InstanceType),
				Zone: aws.ToString(i.Placement.AvailabilityZone), State: string(i.State.Name),
				PrivateIP: aws.ToString(i.PrivateIpAddress), PrivateDNS: aws.ToString(i.PrivateDnsName),
				VPC: aws.ToString(i.VpcId), Subnet: aws.ToString(i.SubnetId)}
			for _, t := range i.Tags {
				if aws.ToString(t.Key) == "Name" {
					v.Name = aws.ToString(t.Value)
				}
			}
			got = append(got, v)
		}
	}
	return got
}

func TestDescribeInstances(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	stopped := srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetA, State: "stopped", Tags: map[string]string{"Name": "node-c"}})
	gone := srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetB, State: "terminated"})
	c := newClients(t, srv)

	a := instanceView{ID: w.nodeA, Type: "m5.large", Zone: "us-east-1a", State: "running", PrivateIP: "10.0.1.4",
		PrivateDNS: "ip-10-0-1-4.ec2.internal", VPC: w.vpc, Subnet: w.subnetA, Name: "node-a"}
	b := instanceView{ID: w.nodeB, Type: "c5.xlarge", Zone: "us-east-1b", State: "running", PrivateIP: "10.0.2.4",
		PrivateDNS: "ip-10-0-2-4.ec2.internal", VPC: w.vpc, Subnet: w.subnetB, Name: "node-b"}
	cst := instanceView{ID: stopped, Type: "m5.large", Zone: "us-east-1a", State: "stopped", PrivateIP: "10.0.1.5",
		PrivateDNS: "ip-10-0-1-5.ec2.internal", VPC: w.vpc, Subnet: w.subnetA, Name: "node-c"}
	// A terminated instance has lost its network identity.
	d := instanceView{ID: gone, Type: "m5.large", Zone: "us-east-1b", State: "terminated"}

	tests := []struct {
		name    string
		in      ec2.DescribeInstancesInput
		want    []instanceView
		wantErr string
	}{
		{name: "by id", in: ec2.DescribeInstancesInput{InstanceIds: []string{w.nodeA}}, want: []instanceView{a}},
		{name: "all", want: sortViews(a, b, cst, d)},
		{name: "by private dns", in: ec2.DescribeInstancesInput{Filters: []types.Filter{filter("private-dns-name", "ip-10-0-2-4.ec2.internal")}}, want: []instanceView{b}},
		{name: "by state", in: ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "stopped", "terminated")}}, want: sortViews(cst, d)},
		{name: "by tag wildcard", in: ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:Name", "node-*"), filter("availability-zone", "us-east-1a")}}, want: sortViews(a, cst)},
		{name: "unknown id", in: ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}}, wantErr: "InvalidInstanceID.NotFound"},
		{name: "malformed id", in: ec2.DescribeInstancesInput{InstanceIds: []string{"node-a"}}, wantErr: "InvalidInstanceID.Malformed"},
		{name: "unknown filter", in: ec2.DescribeInstancesInput{Filters: []types.Filter{filter("color", "red")}}, wantErr: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ec2.DescribeInstances(context.Background(), &tt.in)
			if d := cmp.Diff(tt.wantErr, errCode(err)); d != "" {
				t.Fatalf("error code (-want +got)\n%s", d)
			}
			if err != nil {
				return
			}
			if d := cmp.Diff(tt.want, sortViews(viewInstances(out)...)); d != "" {
				t.Errorf("instances (-want +got)\n%s", d)
			}
		})
	}
}

func sortViews(v ...instanceView) []instanceView {
	sort.Slice(v, func(i, j int) bool { return v[i].ID < v[j].ID })
	return v
}

func TestDescribeInstancesPaginates(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	for range 9 {
		srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetA})
	}
	c := newClients(t, srv)
	pages, ids := 0, map[string]bool{}
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range viewInstances(out) {
			ids[v.ID] = true
		}
	}
	if d := cmp.Diff([]int{3, 11}, []int{pages, len(ids)}); d != "" {
		t.Errorf("[pages, instances] (-want +got)\n%s", d)
	}
}

func TestDescribeSubnetsAndVPCs(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	other := srv.AddSubnet("us-east-1c", netip.MustParsePrefix("172.16.5.0/24"), nil)
	c := newClients(t, srv)

	tests := []struct {
		name    string
		filters []types.Filter
		ids     []string
		want    []string
		wantErr string
	}{
		{name: "cluster tag", filters: []types.Filter{filter("tag:kubernetes.io/cluster/test", "shared", "owned")}, want: []string{w.subnetA}},
		{name: "tag-key", filters: []types.Filter{filter("tag-key", "kubernetes.io/role/internal-elb")}, want: []string{w.subnetB}},
		{name: "vpc", filters: []types.Filter{filter("vpc-id", w.vpc)}, want: []string{w.subnetA, w.subnetB}},
		{name: "ids", ids: []string{other, w.subnetB}, want: []string{w.subnetB, other}},
		{name: "subnet-id filter", filters: []types.Filter{filter("subnet-id", other)}, want: []string{other}},
		{name: "missing", ids: []string{"subnet-0000000000000000f"}, wantErr: "InvalidSubnetID.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ec2.DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{Filters: tt.filters, SubnetIds: tt.ids})
			if d := cmp.Diff(tt.wantErr, errCode(err)); d != "" {
				t.Fatalf("error code (-want +got)\n%s", d)
			}
			if err != nil {
				return
			}
			var got []string
			for _, sn := range out.Subnets {
				got = append(got, aws.ToString(sn.SubnetId))
			}
			sort.Strings(got)
			sort.Strings(tt.want)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("subnets (-want +got)\n%s", d)
			}
		})
	}

	out, err := c.ec2.DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{SubnetIds: []string{w.subnetB}})
	if err != nil {
		t.Fatal(err)
	}
	sn := out.Subnets[0]
	got := []string{aws.ToString(sn.AvailabilityZone), aws.ToString(sn.CidrBlock), aws.ToString(sn.VpcId)}
	if d := cmp.Diff([]string{"us-east-1b", "10.0.2.0/24", w.vpc}, got); d != "" {
		t.Errorf("subnet fields (-want +got)\n%s", d)
	}

	vpcs, err := c.ec2.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag:Name", "main")}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{w.vpc, "10.0.0.0/16"}, []string{aws.ToString(vpcs.Vpcs[0].VpcId), aws.ToString(vpcs.Vpcs[0].CidrBlock)}); d != "" || len(vpcs.Vpcs) != 1 {
		t.Errorf("vpcs: %d, (-want +got)\n%s", len(vpcs.Vpcs), d)
	}

	zones, err := c.ec2.DescribeAvailabilityZones(context.Background(), &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1b"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"us-east-1b", "use1-az2", "us-east-1"},
		[]string{aws.ToString(zones.AvailabilityZones[0].ZoneName), aws.ToString(zones.AvailabilityZones[0].ZoneId), aws.ToString(zones.AvailabilityZones[0].RegionName)}); d != "" {
		t.Errorf("zone (-want +got)\n%s", d)
	}
}

func TestTagsAndAddresses(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()

	_, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{w.nodeA, w.eip},
		Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("frontdesk")}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{w.nodeA},
		Tags: []types.Tag{{Key: aws.String("Name")}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-id", w.nodeA, w.eip)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, td := range out.Tags {
		got = append(got, aws.ToString(td.ResourceId)+" "+string(td.ResourceType)+" "+aws.ToString(td.Key)+"="+aws.ToString(td.Value))
	}
	want := []string{w.eip + " elastic-ip Name=lb-ip", w.eip + " elastic-ip owner=frontdesk", w.nodeA + " instance owner=frontdesk"}
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tags (-want +got)\n%s", d)
	}

	_, err = c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"sg-00000000000000001"},
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	if d := cmp.Diff("InvalidGroup.NotFound", errCode(err)); d != "" {
		t.Errorf("tagging a missing group (-want +got)\n%s", d)
	}

	addrs, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{w.eip}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"203.0.113.10", w.eip, "vpc"}, []string{aws.ToString(addrs.Addresses[0].PublicIp),
		aws.ToString(addrs.Addresses[0].AllocationId), string(addrs.Addresses[0].Domain)}); d != "" {
		t.Errorf("address (-want +got)\n%s", d)
	}
	_, err = c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-00000000000000001"}})
	if d := cmp.Diff("InvalidAllocationID.NotFound", errCode(err)); d != "" {
		t.Errorf("missing allocation (-want +got)\n%s", d)
	}
}

func TestLoadBalancerNetworkInterfaces(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	createNLB(t, c, w, "web")
	out, err := c.ec2.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{filter("description", "ELB net/web/*"), filter("vpc-id", w.vpc)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ni := range out.NetworkInterfaces {
		v := aws.ToString(ni.AvailabilityZone) + " " + aws.ToString(ni.PrivateIpAddress) + " " + string(ni.InterfaceType)
		if ni.Association != nil {
			v += " " + aws.ToString(ni.Association.PublicIp)
		}
		got = append(got, v)
	}
	sort.Strings(got)
	want := []string{"us-east-1a 10.0.1.5 network_load_balancer 203.0.113.10", "us-east-1b 10.0.2.5 network_load_balancer"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// Instances have interfaces too, found by attachment.
	out, err = c.ec2.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{filter("attachment.instance-id", w.nodeB)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.NetworkInterfaces) != 1 || aws.ToString(out.NetworkInterfaces[0].PrivateIpAddress) != "10.0.2.4" {
		t.Errorf("instance interfaces: %+v", out.NetworkInterfaces)
	}
}
