package fakeaws_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func TestDescribeInstancesSmoke(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	out, err := c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{w.nodeA}})
	if err != nil {
		t.Fatal(err)
	}
	i := out.Reservations[0].Instances[0]
	got := []string{aws.ToString(i.InstanceId), aws.ToString(i.PrivateIpAddress), aws.ToString(i.PrivateDnsName), aws.ToString(i.Placement.AvailabilityZone), string(i.State.Name)}
	want := []string{w.nodeA, "10.0.1.4", "ip-10-0-1-4.ec2.internal", "us-east-1a", "running"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}
