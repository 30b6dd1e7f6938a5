package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
	"github.com/frontdesk-lb/frontdesk/test/cluster"
)

// The lab installs frontdesk as release ChartRelease in ChartNamespace, as docs/chart.md does.
const (
	ChartRelease   = "frontdesk"
	ChartNamespace = "frontdesk-system"
)

// chartKinds are the chart's objects the lab applies: the frontdesk.dev objects from values and
// the ServiceAccounts and RBAC its components run with. The workloads (Deployment, DaemonSet)
// are the supervisor's processes instead, and the speaker's heartbeat key is the lab's file.
var chartKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"IPPool", "L2Advertisement", "BGPPeer", "BGPAdvertisement"}

// controllers are frontdesk-controller's --controllers in the lab; the chart is given the same,
// since its RBAC follows them.
var controllers = []string{"service", "nodeport-usage", "cloud-node"}

// RenderBin is the lab's chart renderer, built from charts/frontdesk/test/cmd/render.
const RenderBin = "frontdesk-chart-render"

// serviceAccountTokenLife is how long the components' tokens last: the lab has no kubelet to
// refresh them, and a lab runs for hours or days.
const serviceAccountTokenLife = 365 * 24 * time.Hour

// BuildChartRender builds the chart renderer into dir. It lives in the chart's test module,
// which carries the Helm SDK so that the product's go.mod does not.
func BuildChartRender(ctx context.Context, repo, dir string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, RenderBin), "./cmd/render")
	cmd.Dir = filepath.Join(repo, "charts", "frontdesk", "test")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the chart renderer in charts/frontdesk/test: %w", err)
	}
	return nil
}

// BGPPoolName is the IPPool announced over BGP; a Service asks for it with the annotation
// frontdesk.dev/ip-pool, since the pool does not auto-assign (the ARP pool stays the default).
const BGPPoolName = "bgp"

// chartValues are the lab's values for the chart: the node proxy in the speaker or not, the
// controllers the lab runs (hence the RBAC the chart grants), the ARP pool and its L2Advertisement and, with BGP, the BGP pool, the
// router as BGPPeer and a BGPAdvertisement of that pool to it.
func chartValues(p topology.Plan, bgp, proxy bool) string {
	var b strings.Builder
	// The chart requires a registry; the lab runs the components as processes and applies no
	// workload, so the name only has to satisfy the chart (localhost: where `make images` names them).
	fmt.Fprintf(&b, `# The lab's values for charts/frontdesk (rendered by %s).
image: {registry: localhost}
proxy: {enabled: %t}
controller:
  controllers: [%s]
ipPools:
  - name: lan
    spec:
      addresses: [%q]
`, RenderBin, proxy, strings.Join(controllers, ", "), p.L2Pool)
	if bgp {
		fmt.Fprintf(&b, `  - name: %[1]s
    spec:
      addresses: [%[2]q]
      autoAssign: false
      avoidBuggyIPs: true
announce:
  bgp: {enabled: true, asn: %[3]d}
bgpPeers:
  - name: router
    spec: {address: %[4]q, peerASN: %[5]d, localASN: %[3]d}
bgpAdvertisements:
  - name: %[1]s
    spec: {ipPools: [%[1]s], peers: [router]}
`, BGPPoolName, p.BGPPool, p.NodeASN, p.Router, p.RouterASN)
	}
	b.WriteString(`l2Advertisements:
  - name: lan
    spec:
      ipPools: [lan]
`)
	return b.String()
}

// namespaceManifest is the release namespace, which `helm install -n` expects to exist.
const namespaceManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + ChartNamespace + `
`

// installChart renders the chart with the lab's values, applies its objects (server-side, as
// kubectl would) and returns a kubeconfig per component ("controller", "speaker") that
// authenticates as the component's ServiceAccount with a token from the TokenRequest API, so
// that frontdesk runs with the chart's RBAC and nothing more.
func (s *supervisor) installChart(ctx context.Context, cp *cluster.Cluster) (map[string]string, error) {
	values := filepath.Join(s.o.Dir, "chart-values.yaml")
	if err := os.WriteFile(values, []byte(chartValues(s.plan, s.o.BGP, s.o.Proxy == ProxyFrontdesk)), 0o644); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	render := exec.CommandContext(ctx, s.o.bin(RenderBin), "--chart="+filepath.Join(s.o.Repo, "charts", "frontdesk"),
		"--release="+ChartRelease, "--namespace="+ChartNamespace, "-f", values, "--kinds="+strings.Join(chartKinds, ","))
	render.Stderr = &stderr
	rendered, err := render.Output()
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w: %s", err, stderr.String())
	}
	path := filepath.Join(s.o.Dir, "chart.yaml")
	if err := os.WriteFile(path, append([]byte(namespaceManifest), rendered...), 0o644); err != nil {
		return nil, err
	}
	var out []byte
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		out, err = exec.CommandContext(ctx, s.o.k8s("kubectl"), "--kubeconfig="+s.o.Kubeconfig(),
			"apply", "--server-side", "--field-manager=frontdesk-lab", "-f", path).CombinedOutput()
		return err == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("kubectl apply -f %s: %w: %s", path, err, out)
	}
	accounts, err := serviceAccounts(rendered)
	if err != nil {
		return nil, err
	}
	kubeconfigs := map[string]string{}
	for _, component := range []string{"controller", "speaker"} {
		name, ok := accounts[component]
		if !ok {
			return nil, fmt.Errorf("the chart rendered no ServiceAccount for the %s (see %s)", component, path)
		}
		life := int64(serviceAccountTokenLife.Seconds())
		tr, err := cp.Client.CoreV1().ServiceAccounts(ChartNamespace).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &life}},
			metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("token for ServiceAccount %s/%s: %w", ChartNamespace, name, err)
		}
		if kubeconfigs[component], err = cp.WriteKubeconfig(name, cp.ConfigForToken(tr.Status.Token)); err != nil {
			return nil, err
		}
	}
	objs := fmt.Sprintf("IPPool lan (%s), L2Advertisement lan", s.plan.L2Pool)
	if s.o.BGP {
		objs += fmt.Sprintf(", IPPool %s (%s), BGPPeer router (%s, AS %d), BGPAdvertisement %s",
			BGPPoolName, s.plan.BGPPool, s.plan.Router, s.plan.RouterASN, BGPPoolName)
	}
	s.progressf("chart rendered with the lab's values (%s): ServiceAccounts, RBAC, %s applied; frontdesk runs as its ServiceAccounts",
		filepath.Base(path), objs)
	return kubeconfigs, nil
}

// serviceAccounts maps the chart's component label ("controller", "speaker") to the name of
// the ServiceAccount rendered for it.
func serviceAccounts(rendered []byte) (map[string]string, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	out := map[string]string{}
	for {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("the rendered chart: %w", err)
		}
		if obj.Kind == "ServiceAccount" {
			out[obj.Metadata.Labels["app.kubernetes.io/component"]] = obj.Metadata.Name
		}
	}
}
