package fakeaws_test

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// healthView renders DescribeTargetHealth as sorted "id:port state reason".
func healthView(t *testing.T, c clients, tg string) []string {
	t.Helper()
	out, err := c.elbv2.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.TargetHealthDescriptions {
		got = append(got, aws.ToString(d.Target.Id)+":"+itoa(aws.ToInt32(d.Target.Port))+" "+
			string(d.TargetHealth.State)+" "+string(d.TargetHealth.Reason))
	}
	sort.Strings(got)
	return got
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestTargetGroupsListenersAndHealth(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	lb := aws.ToString(createNLB(t, c, w, "web").LoadBalancerArn)
	tcpTG := createTG(t, c, w, "web-tcp-30080", types.ProtocolEnumTcp, 30080)
	udpTG := createTG(t, c, w, "web-udp-30053", types.ProtocolEnumUdp, 30053)

	// Registration: running instances only.
	_, err := c.elbv2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tcpTG),
		Targets: []types.TargetDescription{{Id: aws.String(w.nodeA)}, {Id: aws.String(w.nodeB)}}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := srv.AddInstance(fakeaws.Instance{SubnetID: w.subnetA, State: "stopped"})
	_, err = c.elbv2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tcpTG),
		Targets: []types.TargetDescription{{Id: aws.String(stopped)}}})
	var inv *types.InvalidTargetException
	if !errors.As(err, &inv) {
		t.Errorf("registering a stopped instance: got %v, want InvalidTargetException", err)
	}
	// Not yet behind a listener: unused.
	want := []string{w.nodeA + ":30080 unused Target.NotInUse", w.nodeB + ":30080 unused Target.NotInUse"}
	sort.Strings(want)
	if d := cmp.Diff(want, healthView(t, c, tcpTG)); d != "" {
		t.Errorf("health before listener (-want +got)\n%s", d)
	}

	listener := func(proto types.ProtocolEnum, port int32, tg string, certs ...string) (string, error) {
		in := &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lb), Protocol: proto, Port: aws.Int32(port),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}
		for _, c := range certs {
			in.Certificates = append(in.Certificates, types.Certificate{CertificateArn: aws.String(c)})
		}
		out, err := c.elbv2.CreateListener(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Listeners[0].ListenerArn), nil
	}
	tcpL, err := listener(types.ProtocolEnumTcp, 80, tcpTG)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listener(types.ProtocolEnumUdp, 53, udpTG); err != nil {
		t.Fatal(err)
	}
	cert := "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d"
	tlsL, err := listener(types.ProtocolEnumTls, 443, tcpTG, cert)
	if err != nil {
		t.Fatal(err)
	}

	errCases := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"udp listener to a tcp group", func() error { _, err := listener(types.ProtocolEnumUdp, 54, tcpTG); return err }, "IncompatibleProtocols"},
		{"port taken", func() error { _, err := listener(types.ProtocolEnumTcp, 80, udpTG); return err }, "DuplicateListener"},
		{"tls without a certificate", func() error { _, err := listener(types.ProtocolEnumTls, 8443, tcpTG); return err }, "CertificateNotFound"},
		{"http on an nlb", func() error { _, err := listener(types.ProtocolEnumHttp, 8080, tcpTG); return err }, "UnsupportedProtocol"},
		{"missing target group", func() error {
			_, err := listener(types.ProtocolEnumTcp, 81, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/0")
			return err
		}, "TargetGroupNotFound"},
		{"delete a group in use", func() error {
			_, err := c.elbv2.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(udpTG)})
			return err
		}, "ResourceInUse"},
		{"duplicate group name", func() error {
			_, err := c.elbv2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web-tcp-30080"),
				Protocol: types.ProtocolEnumTcp, Port: aws.Int32(30081), VpcId: aws.String(w.vpc)})
			return err
		}, "DuplicateTargetGroupName"},
		{"bad ssl policy", func() error {
			_, err := c.elbv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(tlsL), SslPolicy: aws.String("Nope")})
			return err
		}, "SSLPolicyNotFound"},
	}
	for _, tc := range errCases {
		if d := cmp.Diff(tc.wantErr, errCode(tc.call())); d != "" {
			t.Errorf("%s: error code (-want +got)\n%s", tc.name, d)
		}
	}

	// Behind a listener the instances are healthy, unless a test says not.
	srv.SetTargetHealth(tcpTG, w.nodeB, 30080, "unhealthy", "Target.FailedHealthChecks")
	want = []string{w.nodeA + ":30080 healthy ", w.nodeB + ":30080 unhealthy Target.FailedHealthChecks"}
	sort.Strings(want)
	if d := cmp.Diff(want, healthView(t, c, tcpTG)); d != "" {
		t.Errorf("health behind listener (-want +got)\n%s", d)
	}

	mod, err := c.elbv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(tlsL),
		SslPolicy: aws.String("ELBSecurityPolicy-TLS13-1-2-2021-06"), AlpnPolicy: []string{"HTTP2Preferred"}})
	if err != nil {
		t.Fatal(err)
	}
	l := mod.Listeners[0]
	if d := cmp.Diff([]string{"TLS", "443", "ELBSecurityPolicy-TLS13-1-2-2021-06", cert, "HTTP2Preferred", tcpTG},
		[]string{string(l.Protocol), itoa(aws.ToInt32(l.Port)), aws.ToString(l.SslPolicy), aws.ToString(l.Certificates[0].CertificateArn),
			l.AlpnPolicy[0], aws.ToString(l.DefaultActions[0].TargetGroupArn)}); d != "" {
		t.Errorf("modified listener (-want +got)\n%s", d)
	}

	tgs, err := c.elbv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lb)})
	if err != nil {
		t.Fatal(err)
	}
	var tgView []string
	for _, g := range tgs.TargetGroups {
		tgView = append(tgView, aws.ToString(g.TargetGroupName)+" "+string(g.Protocol)+" "+itoa(aws.ToInt32(g.Port))+" "+
			string(g.HealthCheckProtocol)+" "+itoa(aws.ToInt32(g.HealthCheckIntervalSeconds))+" "+g.LoadBalancerArns[0])
	}
	sort.Strings(tgView)
	if d := cmp.Diff([]string{"web-tcp-30080 TCP 30080 TCP 10 " + lb, "web-udp-30053 UDP 30053 TCP 10 " + lb}, tgView); d != "" {
		t.Errorf("target groups (-want +got)\n%s", d)
	}

	attrs, err := c.elbv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(tcpTG),
		Attributes: []types.TargetGroupAttribute{{Key: aws.String("proxy_protocol_v2.enabled"), Value: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range attrs.Attributes {
		found = found || (aws.ToString(a.Key) == "proxy_protocol_v2.enabled" && aws.ToString(a.Value) == "true")
	}
	if !found {
		t.Errorf("proxy_protocol_v2.enabled not set: %+v", attrs.Attributes)
	}

	// Tear down in the order a controller would; then nothing is left.
	if _, err := c.elbv2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tcpTG),
		Targets: []types.TargetDescription{{Id: aws.String(w.nodeA)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.elbv2.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String(tcpL)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.elbv2.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String(tcpL)})
	var lnf *types.ListenerNotFoundException
	if !errors.As(err, &lnf) {
		t.Errorf("deleting a deleted listener: got %v, want ListenerNotFoundException", err)
	}
	if _, err := c.elbv2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lb)}); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{tcpTG, udpTG} {
		if _, err := c.elbv2.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(tg)}); err != nil {
			t.Fatalf("delete %s: %v", tg, err)
		}
	}
	if created := srv.Created(); len(created) != 0 {
		t.Errorf("leaked: %+v", created)
	}
}

func TestELBv2Tags(t *testing.T) {
	srv := fakeaws.Start(t, fakeaws.WithLimits(fakeaws.Limits{TagsPerResource: 3}))
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	lb := aws.ToString(createNLB(t, c, w, "web").LoadBalancerArn)
	tg := createTG(t, c, w, "web-tcp", types.ProtocolEnumTcp, 30080)

	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	if _, err := c.elbv2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{lb, tg}, Tags: []types.Tag{tag("a", "1"), tag("b", "2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.elbv2.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{lb}, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.elbv2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{tg}, Tags: []types.Tag{tag("c", "3"), tag("d", "4")}})
	var tooMany *types.TooManyTagsException
	if !errors.As(err, &tooMany) {
		t.Errorf("fourth tag: got %v, want TooManyTagsException", err)
	}
	out, err := c.elbv2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{lb, tg}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, d := range out.TagDescriptions {
		m := map[string]string{}
		for _, t := range d.Tags {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		got[aws.ToString(d.ResourceArn)] = m
	}
	want := map[string]map[string]string{
		lb: {"frontdesk.dev/service": "default/web", "b": "2"},
		tg: {"a": "1", "b": "2"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tags (-want +got)\n%s", d)
	}
}
