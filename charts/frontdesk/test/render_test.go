package charttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// The chart under test: this module lives in charts/frontdesk/test.
const chartDir = ".."

const (
	releaseName = "frontdesk"
	releaseNS   = "frontdesk-system"
)

// A valueSet is one way of installing the chart. The sets cover both providers, every announce
// mode and the proxy, and everything optional turned off.
type valueSet struct {
	name   string
	values string // YAML, merged over values.yaml as `helm install -f` would
	// bgpObjects: the set creates BGPPeer/BGPAdvertisement objects, whose CRDs come with the BGP
	// speaker; integration tests leave the set out while the chart has no BGP CRDs.
	bgpObjects bool
	// bindService: the speaker must get NET_BIND_SERVICE (passive BGP peers).
	bindService bool
}

var valueSets = []valueSet{
	{name: "defaults"},
	{name: "baremetal", values: `
ipPools:
  - name: lan
    spec:
      addresses: ["198.51.100.0/24", "2001:db8:100::10-2001:db8:100::ff"]
      avoidBuggyIPs: true
  - name: reserved
    labels: {tier: manual}
    spec:
      addresses: ["203.0.113.0/28"]
      autoAssign: false
l2Advertisements:
  - name: lan
    spec:
      ipPools: [lan]
      interfaces: [eth0]
speaker:
  livenessKey: {existingSecret: speaker-key, secretKey: heartbeat, acceptSecretKey: heartbeat-next}
  livenessQuorum: true
`},
	{name: "aws", values: `
provider: aws
clusterName: prod-eu
aws:
  region: eu-west-1
  cloudConfig: |
    vpcID: vpc-0123456789abcdef0
    sweepInterval: 10m
announce:
  l2: {enabled: false}
controller:
  serviceAccount:
    annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::111122223333:role/frontdesk"}
`},
	// Nodes initialised by something else (e.g. kubelets not run with --cloud-provider=external):
	// the controller keeps only the lifecycle and service controllers, and loses the node writes.
	{name: "aws-no-cloud-node", values: `
provider: aws
clusterName: staging
announce:
  l2: {enabled: false}
controller:
  controllers: ["*", "-cloud-node"]
`},
	{name: "bgp-proxy", bindService: true, values: `
announce:
  l2: {enabled: true}
  bgp: {enabled: true, asn: 64513, passivePeers: true}
proxy: {enabled: true}
speaker:
  kubernetesServiceHost: 192.0.2.10
  kubernetesServicePort: "6443"
`},
	// What the lab installs: the node proxy with the dead-node exclusion off, and each node's boot
	// ID from a ConfigMap (its nodes share one kernel).
	{name: "proxy-lab", values: `
proxy: {enabled: true, excludeDeadNodes: false}
speaker:
  bootIDConfigMap: frontdesk-lab-boot-ids
`},
	{name: "bgp-objects", bgpObjects: true, values: `
announce:
  bgp: {enabled: true, asn: 4200000000}
bgpPeers:
  - name: tor-a
    spec: {address: 192.0.2.1, peerASN: 64512, localASN: 4200000000, passwordSecret: {name: tor-a-password}}
bgpAdvertisements:
  - name: all
    spec: {ipPools: [lan], peers: [tor-a]}
`},
	{name: "off", values: `
announce:
  l2: {enabled: false}
  bgp: {enabled: false}
proxy: {enabled: false}
controller:
  replicas: 1
  controllers: [service, nodeport-usage]
  podDisruptionBudget: {enabled: false}
  metrics: {service: {enabled: false}}
  serviceAccount: {create: false, name: existing-controller}
`},
}

var loadChart = sync.OnceValues(func() (*chart.Chart, error) { return loader.Load(chartDir) })

func mustChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loadChart()
	if err != nil {
		t.Fatalf("loading the chart from %s: %v", chartDir, err)
	}
	return ch
}

// testRegistry is the image registry the value sets install from: the chart has no default
// (frontdesk publishes no images), so every install names one. localhost is where `make images`
// names its images.
const testRegistry = "localhost"

// parseValues reads a value set's YAML and, unless it sets the top-level image key itself, adds
// image.registry: testRegistry, as every real install must.
func parseValues(t testing.TB, s string) map[string]any {
	t.Helper()
	vals := parseRawValues(t, s)
	if _, ok := vals["image"]; !ok {
		vals["image"] = map[string]any{"registry": testRegistry}
	}
	return vals
}

// parseRawValues reads YAML values as they are.
func parseRawValues(t testing.TB, s string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &vals); err != nil {
		t.Fatalf("value set YAML: %v", err)
	}
	return vals
}

// renderValues renders the chart's templates as `helm install` would (schema validation included),
// with the live cluster behind cfg answering `lookup` when cfg is not nil. It returns the objects
// in template order, NOTES.txt left out.
func renderValues(ch *chart.Chart, vals map[string]any, cfg *rest.Config) ([]*unstructured.Unstructured, error) {
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals,
		common.ReleaseOptions{Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true},
		common.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if cfg != nil {
		files, err = engine.RenderWithClient(ch, top, cfg)
	} else {
		files, err = engine.Render(ch, top)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if path.Ext(name) == ".yaml" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		got, err := decodeAll(files[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// render renders one value set and fails the test on any error.
func render(t testing.TB, vs valueSet) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderValues(mustChart(t), parseValues(t, vs.values), nil)
	if err != nil {
		t.Fatalf("rendering value set %q: %v", vs.name, err)
	}
	return objs
}

func decodeAll(doc string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue // an empty document: a template whose condition was false
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// crdObjects returns the chart's CustomResourceDefinitions (crds/), which Helm applies before the
// templates.
func crdObjects(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, crd := range mustChart(t).CRDObjects() {
		objs, err := decodeAll(string(crd.File.Data))
		if err != nil {
			t.Fatalf("%s: %v", crd.Filename, err)
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		t.Fatal("the chart has no CRDs; run make generate")
	}
	return out
}

// find returns the rendered object of this kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustFind(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %q rendered; got %s", kind, name, inventory(objs))
	}
	return o
}

// into converts an unstructured object to a typed one.
func into[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s does not convert to %T: %v", o.GetKind(), o.GetName(), out, err)
	}
	return out
}

// inventory is "Kind/name, ..." for failure messages.
func inventory(objs []*unstructured.Unstructured) string {
	var b bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.GetKind() + "/" + o.GetName())
	}
	return b.String()
}
