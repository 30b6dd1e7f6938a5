package fakeaws_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// clients are unmodified SDK clients pointed at one fake.
type clients struct {
	ec2   *ec2.Client
	elbv2 *elbv2.Client
	elb   *elb.Client
}

// fastRetryer is the SDK's standard retryer with its backoff capped, so
// throttling tests do not sleep for seconds.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 20 * time.Millisecond
	})
}

func newClients(t *testing.T, srv *fakeaws.Server) clients {
	t.Helper()
	creds := credentials.NewStaticCredentialsProvider("AKIDFAKE", "secret", "")
	url := aws.String(srv.URL())
	return clients{
		ec2: ec2.New(ec2.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: url,
			Retryer: fastRetryer()}),
		elbv2: elbv2.New(elbv2.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: url,
			Retryer: fastRetryer()}),
		elb: elb.New(elb.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: url,
			Retryer: fastRetryer()}),
	}
}

// world is the seeded network most tests start from. IP plan:
// VPC 10.0.0.0/16; subnets 10.0.1.0/24 (us-east-1a) and 10.0.2.0/24
// (us-east-1b); instances get 10.0.1.4, 10.0.1.5, ... and 10.0.2.4, ...;
// the Elastic IP is 203.0.113.10 (TEST-NET-3).
type world struct {
	vpc, subnetA, subnetB string
	nodeA, nodeB          string
	eip                   string
}

func seed(srv *fakeaws.Server) world {
	var w world
	w.vpc = srv.AddVPC(netip.MustParsePrefix("10.0.0.0/16"), map[string]string{"Name": "main"})
	w.subnetA = srv.AddSubnet("us-east-1a", netip.MustParsePrefix("10.0.1.0/24"),
		map[string]string{"kubernetes.io/role/elb": "1", "kubernetes.io/cluster/test": "shared"})
	w.subnetB = srv.AddSubnet("us-east-1b", netip.MustParsePrefix("10.0.2.0/24"),
		map[string]string{"kubernetes.io/role/internal-elb": "1"})
	w.nodeA = srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetA, Type: "m5.large",
		Tags: map[string]string{"Name": "node-a"}})
	w.nodeB = srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetB, Type: "c5.xlarge",
		Tags: map[string]string{"Name": "node-b"}})
	w.eip = srv.AddEIP(netip.MustParseAddr("203.0.113.10"), map[string]string{"Name": "lb-ip"})
	return w
}

// errCode is the AWS error code the SDK decoded, or "" for no error.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

// clock is a settable time source for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
