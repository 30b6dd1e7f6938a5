package aws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// The IAM policy of docs/aws.md, read and evaluated here for what the tags
// decide. The fake AWS does not evaluate IAM (README: "IAM beyond Deny"), so
// these tests play IAM's part for the condition keys the policy uses:
// StringEquals and Null on aws:RequestTag/K, aws:ResourceTag/K and the
// services' CreateAction keys. Its cluster is "prod"; the tests' is cluster.

type strs []string

func (s *strs) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = strs{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

type statement struct {
	Sid       string
	Effect    string
	Action    strs
	Resource  strs
	Condition map[string]map[string]strs
}

func docPolicy(t *testing.T) []statement {
	t.Helper()
	b, err := os.ReadFile("../../docs/aws.md")
	if err != nil {
		t.Fatal(err)
	}
	_, iam, ok := strings.Cut(string(b), "\n## IAM\n")
	_, block, ok2 := strings.Cut(iam, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/aws.md has no JSON policy in its IAM section")
	}
	var p struct{ Statement []statement }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(block, "kubernetes.io/cluster/prod", model.ClusterTag(cluster))), &p); err != nil {
		t.Fatalf("the IAM policy in docs/aws.md is not valid JSON: %v", err)
	}
	return p.Statement
}

func glob(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// request is what IAM sees of one call, for the keys the policy uses.
type request struct {
	action   string            // prefix:Action
	resource string            // the ARN it acts on
	reqTags  map[string]string // aws:RequestTag
	resTags  map[string]string // aws:ResourceTag (nil: a resource being created)
	create   string            // ec2:CreateAction / elasticloadbalancing:CreateAction
}

func allowed(policy []statement, r request) bool {
	for _, s := range policy {
		if s.Effect != "Allow" || !slices.ContainsFunc(s.Action, func(a string) bool { return glob(a, r.action) }) ||
			!slices.ContainsFunc(s.Resource, func(p string) bool { return glob(p, r.resource) }) {
			continue
		}
		if conditionsHold(s.Condition, r) {
			return true
		}
	}
	return false
}

func conditionsHold(cond map[string]map[string]strs, r request) bool {
	value := func(key string) (string, bool) {
		switch {
		case strings.HasPrefix(key, "aws:RequestTag/"):
			v, ok := r.reqTags[strings.TrimPrefix(key, "aws:RequestTag/")]
			return v, ok
		case strings.HasPrefix(key, "aws:ResourceTag/"):
			v, ok := r.resTags[strings.TrimPrefix(key, "aws:ResourceTag/")]
			return v, ok
		case key == "ec2:CreateAction" || key == "elasticloadbalancing:CreateAction":
			return r.create, r.create != ""
		}
		panic("the policy uses condition key " + key + ", which this test does not evaluate")
	}
	for op, keys := range cond {
		for key, want := range keys {
			v, present := value(key)
			switch op {
			case "StringEquals":
				if !present || !slices.Contains(want, v) {
					return false
				}
			case "Null":
				if (want[0] == "true") == present {
					return false
				}
			default:
				panic("the policy uses condition operator " + op + ", which this test does not evaluate")
			}
		}
	}
	return true
}

func isRead(action string) bool {
	_, name, _ := strings.Cut(action, ":")
	return strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List")
}

// TestIAMPolicyGrantsEveryAction: every method of the provider's AWS
// clients (each is the IAM action of the same name) is granted by some
// statement, and every statement granting a write has a tag condition.
func TestIAMPolicyGrantsEveryAction(t *testing.T) {
	policy := docPolicy(t)
	for _, c := range []struct {
		prefix string
		iface  reflect.Type
	}{
		{"ec2", reflect.TypeFor[awsapi.EC2]()},
		{"elasticloadbalancing", reflect.TypeFor[awsapi.ELBv2]()},
		{"elasticloadbalancing", reflect.TypeFor[awsapi.ELB]()},
		{"tag", reflect.TypeFor[awsapi.Tagging]()},
	} {
		for i := range c.iface.NumMethod() {
			action := c.prefix + ":" + c.iface.Method(i).Name
			if !slices.ContainsFunc(policy, func(s statement) bool {
				return s.Effect == "Allow" && slices.ContainsFunc(s.Action, func(a string) bool { return glob(a, action) })
			}) {
				t.Errorf("no statement grants %s, which the provider calls", action)
			}
		}
	}
	for _, s := range policy {
		writes := slices.ContainsFunc(s.Action, func(a string) bool { return !isRead(a) })
		vpcOnly := slices.Equal(s.Resource, strs{"arn:aws:ec2:*:*:vpc/*"}) // a VPC has no tags of ours to check
		if writes && !vpcOnly && !strings.Contains(fmt.Sprint(s.Condition), model.ClusterTag(cluster)) {
			t.Errorf("statement %s grants writes (%v) without a condition on the cluster's tag", s.Sid, s.Action)
		}
	}
}

// requestTags reads the tags a query request carries, in any of the
// services' spellings (Tags.member.N, TagSpecification.1.Tag.N, Tag.N).
var tagKeyRE = regexp.MustCompile(`^((?:Tags\.member|TagSpecification\.\d+\.Tag|Tag)\.\d+)\.Key$`)

func requestTags(c fakeaws.Call) map[string]string {
	tags := map[string]string{}
	for k := range c.Params {
		if m := tagKeyRE.FindStringSubmatch(k); m != nil {
			tags[c.Params.Get(k)] = c.Params.Get(m[1] + ".Value")
		}
	}
	return tags
}

var creates = []string{"CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateSecurityGroup"}

// iamRequests turns one call into what IAM checks for it: a create of a
// tagged resource is also a tagging action with the CreateAction key, and
// CreateSecurityGroup acts on the VPC too.
func (e *env) iamRequests(c fakeaws.Call, state []fakeaws.Resource) []request {
	prefix := map[fakeaws.Service]string{fakeaws.EC2: "ec2", fakeaws.ELBv2: "elasticloadbalancing", fakeaws.ELB: "elasticloadbalancing", fakeaws.Tagging: "tag"}[c.Service]
	r := request{action: prefix + ":" + c.Action, reqTags: requestTags(c)}
	arnOf := func(id string) string {
		switch {
		case strings.HasPrefix(id, "arn:"):
			return id
		case c.Service == fakeaws.EC2:
			return fmt.Sprintf("arn:aws:ec2:%s:123456789012:security-group/%s", region, id)
		}
		return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:123456789012:loadbalancer/%s", region, id)
	}
	if slices.Contains(creates, c.Action) {
		r.resource = arnOf("new")
		out := []request{r}
		tagging := request{action: prefix + ":AddTags", resource: r.resource, reqTags: r.reqTags, create: c.Action}
		if c.Service == fakeaws.EC2 {
			tagging.action = "ec2:CreateTags"
			out = append(out, request{action: r.action, resource: fmt.Sprintf("arn:aws:ec2:%s:123456789012:vpc/%s", region, c.Params.Get("VpcId"))})
		}
		if len(r.reqTags) > 0 {
			out = append(out, tagging)
		}
		return out
	}
	var id string
	for _, k := range []string{"LoadBalancerArn", "TargetGroupArn", "ListenerArn", "ResourceArns.member.1", "LoadBalancerName",
		"LoadBalancerNames.member.1", "GroupId", "ResourceId.1"} {
		if id = c.Params.Get(k); id != "" {
			break
		}
	}
	if id == "" {
		e.t.Errorf("%s: cannot tell which resource it acts on (params %v)", c.Action, c.Params)
	}
	r.resource, r.resTags = arnOf(id), map[string]string{}
	for _, res := range state {
		if res.ID == id {
			r.resTags = res.Tags
		}
	}
	return []request{r}
}

// TestIAMPolicyAllowsWhatTheProviderDoes: through creates, in-place
// changes, a type change, deletes and a sweep, every write the provider
// sends is allowed by the documented policy's tag conditions, evaluated at
// the moment of the call against the fake's state; and the same policy
// refuses those writes on resources not tagged for the Service.
func TestIAMPolicyAllowsWhatTheProviderDoes(t *testing.T) {
	policy := docPolicy(t)
	e := newEnv(t, envOption{cfg: allowCerts})
	// Node security groups carry the cluster's tag (docs/aws.md, IAM).
	groups, err := e.clients.EC2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if _, err := e.clients.EC2.CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{aws.ToString(g.GroupId)},
			Tags: []ec2types.Tag{{Key: aws.String(model.ClusterTag(cluster)), Value: aws.String("shared")}}}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var denied []string
	seen := map[string]bool{}
	e.fake.OnCall(func(c fakeaws.Call) error {
		if !c.Mutating {
			return nil
		}
		state := e.fake.Resources() // as IAM would see it: before the call
		mu.Lock()
		defer mu.Unlock()
		seen[string(c.Service)+":"+c.Action] = true
		for _, r := range e.iamRequests(c, state) {
			if !allowed(policy, r) {
				denied = append(denied, fmt.Sprintf("%s on %s (request tags %v, resource tags %v)", r.action, r.resource, r.reqTags, r.resTags))
			}
		}
		return nil
	})

	svc := newService("web", objects.WithAnnotations(annotations.SSLCert, certPrefix+"a", annotations.SSLPorts, "https",
		annotations.ProxyProtocol, "*", annotations.CrossZone, "true"))
	e.mustEnsure(svc)
	svc.Annotations[annotations.SSLCert] = certPrefix + "b"                               // ModifyListener
	svc.Annotations[annotations.HCInterval] = "30"                                        // ModifyTargetGroup
	svc.Annotations[annotations.AdditionalTags] = "team=shop"                             // AddTags, CreateTags
	svc.Annotations[annotations.CrossZone] = "false"                                      // ModifyLoadBalancerAttributes
	svc.Annotations[annotations.TGAttributes] = "deregistration_delay.timeout_seconds=10" // ModifyTargetGroupAttributes
	svc.Spec.LoadBalancerSourceRanges = []string{"198.51.100.0/24"}                       // Authorize, Revoke
	e.nodes = e.nodes[:2]                                                                 // DeregisterTargets
	e.mustEnsure(svc)
	svc.Spec.Ports = svc.Spec.Ports[:1] // DeleteListener, DeleteTargetGroup
	e.mustEnsure(svc)

	classic := newService("classic", objects.WithAnnotations(annotations.Type, "clb", annotations.ProxyProtocol, "*"))
	e.mustEnsure(classic)
	classic.Spec.Ports = append(classic.Spec.Ports, v1.ServicePort{Name: "extra", Port: 8443, Protocol: v1.ProtocolTCP, NodePort: 30444})
	classic.Annotations[annotations.HCInterval] = "30"
	e.mustEnsure(classic)

	svc.Annotations[annotations.Type] = "clb" // a new classic load balancer, the NLB deleted
	e.mustEnsure(svc)
	e.mustDelete(svc)
	orphan := newService("orphan")
	e.mustEnsure(orphan)
	if _, err := e.cloud.Sweep(context.Background(), func(_, name string) (*v1.Service, bool, error) { return classic, name == classic.Name, nil }, nil, false); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, d := range denied {
		t.Errorf("the documented policy denies %s", d)
	}
	for _, want := range []string{"elbv2:CreateLoadBalancer", "elbv2:CreateTargetGroup", "elbv2:CreateListener", "ec2:CreateSecurityGroup",
		"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateTags", "elbv2:AddTags", "elbv2:ModifyListener",
		"elbv2:ModifyTargetGroup", "elbv2:ModifyLoadBalancerAttributes", "elbv2:ModifyTargetGroupAttributes", "elbv2:DeregisterTargets",
		"elbv2:RegisterTargets", "elbv2:DeleteListener", "elbv2:DeleteTargetGroup", "elbv2:DeleteLoadBalancer", "ec2:DeleteSecurityGroup",
		"elb:CreateLoadBalancer", "elb:CreateLoadBalancerListeners", "elb:ConfigureHealthCheck", "elb:DeleteLoadBalancer",
		"elb:CreateLoadBalancerPolicy", "elb:SetLoadBalancerPoliciesForBackendServer"} {
		if !seen[want] {
			t.Errorf("the scenario never called %s; seen %v", want, slices.Sorted(maps.Keys(seen)))
		}
	}

	// The policy has teeth: the same writes on resources that are not the
	// Service's are refused.
	arn := "arn:aws:elasticloadbalancing:" + region + ":123456789012:loadbalancer/net/theirs/1"
	for _, tags := range []map[string]string{
		{"team": "other"},
		{model.ClusterTag(cluster): model.TagOwned}, // the cluster's tag alone: someone else's resource, tagged to bait the sweep
		{model.ClusterTag(cluster): "shared", model.TagServiceUID: "x"},
		{model.ClusterTag("other"): model.TagOwned, model.TagServiceUID: "x"},
	} {
		for _, action := range []string{"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
			"elasticloadbalancing:AddTags", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress"} {
			if allowed(policy, request{action: action, resource: arn, resTags: tags}) {
				t.Errorf("the policy allows %s on a resource tagged %v", action, tags)
			}
		}
	}
	if allowed(policy, request{action: "elasticloadbalancing:CreateLoadBalancer", resource: "*", reqTags: map[string]string{"team": "other"}}) {
		t.Error("the policy allows creating a load balancer without the cluster's tag")
	}
}
