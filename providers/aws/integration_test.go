//go:build integration

package aws_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/frontdesk-lb/frontdesk/controller/manager"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// waitEvery is how often the tests poll the API server and the fake AWS for a state.
const waitEvery = 200 * time.Millisecond

// TestMain lets the test binary run as frontdesk-controller (role "controller"), so the test
// starts the real command as a separate process, as a cluster would.
func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{
		"controller": func(string) int { return cli.Run(manager.NewCommand(genericapiserver.SetupSignalHandler())) },
	})
}

// TestControllerEndToEnd runs frontdesk-controller --cloud-provider=aws
// against a real API server and the wire-level fake AWS: a LoadBalancer
// Service gets its NLB's hostname, the cloud node controller initialises a
// Node from EC2, and deleting the Service removes every AWS resource.
func TestControllerEndToEnd(t *testing.T) {
	c := controlplane.Start(t)
	ctx := context.Background()
	fake := fakeaws.Start(t, fakeaws.WithRegion(region))
	vpc := fake.AddVPC(netip.MustParsePrefix("10.0.0.0/16"), nil)
	subA := fake.AddSubnet(region+"a", netip.MustParsePrefix("10.0.1.0/24"), map[string]string{model.TagRoleELB: "1"})
	fake.AddSubnet(region+"b", netip.MustParsePrefix("10.0.2.0/24"), map[string]string{model.TagRoleELB: "1"})
	instance := fake.AddInstance(fakeaws.Instance{SubnetID: subA, PrivateIP: netip.MustParseAddr("10.0.1.10")})

	dir := t.TempDir()
	cloudConfig := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cloudConfig, fmt.Appendf(nil, "clusterName: %s\nregion: %s\nvpcID: %s\nsweepInterval: 2s\n", cluster, region, vpc), 0o600); err != nil {
		t.Fatal(err)
	}

	// The Node's name is the instance's private DNS name; it has no provider ID yet.
	nodeName := "ip-10-0-1-10." + region + ".compute.internal"
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName},
		Spec: v1.NodeSpec{Taints: []v1.Taint{{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: v1.TaintEffectNoSchedule}}}}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	startController(t, c, fake, cloudConfig, "--controllers=service,cloud-node")

	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if want := "aws:///" + region + "a/" + instance; n.Spec.ProviderID != want {
			return fmt.Sprintf("node providerID %q, want %q", n.Spec.ProviderID, want)
		}
		if n.Labels[v1.LabelInstanceTypeStable] != "m5.large" || n.Labels[v1.LabelTopologyZone] != region+"a" || n.Labels[v1.LabelTopologyRegion] != region {
			return fmt.Sprintf("node labels %v", n.Labels)
		}
		return ""
	})

	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
			Ports: []v1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	svc, err = c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var host string
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		s, err := c.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(s.Status.LoadBalancer.Ingress) == 0 {
			return "no ingress yet"
		}
		host = s.Status.LoadBalancer.Ingress[0].Hostname
		return ""
	})
	if !strings.HasPrefix(host, "k8s-default-web-") || !strings.HasSuffix(host, ".elb."+region+".amazonaws.com") {
		t.Errorf("ingress hostname %q, want the NLB's", host)
	}
	ours := 0
	for _, r := range fake.Resources() {
		if r.Tags[model.TagServiceUID] == string(svc.UID) {
			ours++
		}
	}
	if ours < 4 {
		t.Errorf("%d AWS resources tagged with the Service's UID, want the load balancer, target group, listener and security group", ours)
	}

	// ip targets follow the Service's EndpointSlices without a Service change.
	slice := createIPTargetService(ctx, t, c.Client, "10.0.1.50")
	cfg := &config.Config{Region: region, Endpoints: map[string]string{config.ServiceELBv2: fake.URL(), config.ServiceEC2: fake.URL(), config.ServiceELB: fake.URL(), config.ServiceTagging: fake.URL()}}
	cfg.Default()
	api, err := awsapi.New(ctx, cfg, awsapi.Options{Credentials: awsapi.StaticCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		if got := registeredIPTargets(ctx, api); got != "10.0.1.50" {
			return "ip targets " + got
		}
		return ""
	})
	addEndpoint(ctx, t, c.Client, slice, "10.0.2.60")
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		if got := registeredIPTargets(ctx, api); got != "10.0.1.50,10.0.2.60" {
			return "after the slice changed, ip targets " + got
		}
		return ""
	})

	for _, name := range []string{"web", "pods"} {
		if err := c.Client.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		for _, name := range []string{"web", "pods"} {
			_, err := c.Client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return fmt.Sprintf("Service %s still there (err %v)", name, err)
			}
		}
		var left []string
		for _, r := range fake.Resources() {
			if r.Tags[model.ClusterTag(cluster)] == model.TagOwned && r.Tags[model.TagServiceUID] != "" {
				left = append(left, r.Kind+" "+r.ID)
			}
		}
		if len(left) > 0 {
			return fmt.Sprintf("AWS resources left: %v", left)
		}
		return ""
	})

	// The sweep (every 2 s here) deletes what a Service that no longer
	// exists left, and says so in an Event.
	orphan, err := api.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: ptrS("k8s-default-ghost-0123456789"), Description: ptrS("left by a deleted Service"), VpcId: ptrS(vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: ptrS(model.ClusterTag(cluster)), Value: ptrS(model.TagOwned)},
			{Key: ptrS(model.TagServiceNamespace), Value: ptrS("default")},
			{Key: ptrS(model.TagServiceName), Value: ptrS("ghost")},
			{Key: ptrS(model.TagServiceUID), Value: ptrS("ghost-uid")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		for _, r := range fake.Resources() {
			if r.ID == *orphan.GroupId {
				return "the orphaned security group is still there"
			}
		}
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, ev := range evs.Items {
			if ev.Reason == "SweptAWSResource" && ev.InvolvedObject.Name == "ghost" {
				return ""
			}
		}
		return "no SweptAWSResource Event for Service ghost"
	})
}

// startController runs frontdesk-controller --cloud-provider=aws as a
// separate process against c and the fake (endpoints through the SDK's own
// variables, as a user would set them); test/proc stops it at cleanup and
// prints the end of its log if the test failed. It returns the log's path.
func startController(t *testing.T, c *controlplane.Cluster, fake *fakeaws.Server, cloudConfig string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--cloud-provider=aws", "--cloud-config=" + cloudConfig,
		"--kubeconfig=" + c.KubeconfigPath, "--authentication-kubeconfig=" + c.KubeconfigPath, "--authorization-kubeconfig=" + c.KubeconfigPath,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(controlplane.FreePort(t)), "--leader-elect=false",
		"--cluster-name=" + cluster, "--v=2"}, args...)...)
	cmd.Env = testkit.ChildEnv("controller", "",
		"AWS_ACCESS_KEY_ID=AKIDFRONTDESKTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_EC2="+fake.URL(), "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING="+fake.URL(),
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+fake.URL(), "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API="+fake.URL())
	return proc.Start(t, "", "controller", cmd).Log
}

func ptrS(s string) *string { return &s }

func ptr[T any](v T) *T { return &v }
