package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/frontdesk-lb/frontdesk/lab/addons"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/lab/router"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// rolloutTimeout bounds the wait for frontdesk's Pods after helm install: images are already on
// every node, so this is Pod start-up, the speakers' first sync and the controller's election.
const rolloutTimeout = 3 * time.Minute

// releaseSpec is what the lab's values for the chart depend on.
type releaseSpec struct {
	plan      topology.Plan
	bgp       bool
	proxy     bool   // frontdesk's node proxy in the speaker, instead of kube-proxy
	apiServer string // https://host:port of the API server, reachable from every node
	registry  string // the images' registry, as make images names them
	tag       string
}

// releaseValues are the lab's values for charts/frontdesk, written to a file and given to helm
// with -f, as a user would.
func releaseValues(r releaseSpec) ([]byte, error) {
	u, err := url.Parse(r.apiServer)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("API server %q: want https://host:port", r.apiServer)
	}
	p := r.plan
	speaker := map[string]any{
		"image": map[string]any{"tag": r.tag},
		// The speaker reaches the API server by address: with frontdesk's node proxy replacing
		// kube-proxy, the kubernetes Service's ClusterIP works only once the speaker runs.
		"kubernetesServiceHost": u.Hostname(),
		"kubernetesServicePort": u.Port(),
		// The nodes share one kernel, hence one boot ID: each node's comes from the lab.
		"bootIDConfigMap": BootIDConfigMap,
	}
	if r.proxy {
		speaker["extraArgs"] = []string{
			"--proxy-cluster-cidr=" + p.ClusterCIDR.String(),
			// NodePorts on the LAN address only, not on the Pods' gateway address.
			"--proxy-nodeport-addresses=" + p.LAN.String(),
		}
	}
	v := map[string]any{
		"image":      map[string]any{"registry": r.registry},
		"controller": map[string]any{"image": map[string]any{"tag": r.tag}, "controllers": controllers},
		"speaker":    speaker,
		"proxy":      map[string]any{"enabled": r.proxy},
		"ipPools":    []any{map[string]any{"name": "lan", "spec": map[string]any{"addresses": []string{p.L2Pool}}}},
		"l2Advertisements": []any{
			map[string]any{"name": "lan", "spec": map[string]any{"ipPools": []string{"lan"}}},
		},
	}
	if r.bgp {
		v["ipPools"] = append(v["ipPools"].([]any), map[string]any{"name": BGPPoolName, "spec": map[string]any{
			"addresses": []string{p.BGPPool.String()}, "autoAssign": false, "avoidBuggyIPs": true}})
		v["announce"] = map[string]any{"bgp": map[string]any{"enabled": true, "asn": p.NodeASN}}
		v["bgpPeers"] = []any{map[string]any{"name": "router", "spec": map[string]any{
			"address": p.Router.String(), "peerASN": p.RouterASN, "localASN": p.NodeASN,
			// BFD with the router's timers (lab/router.BFDInterval).
			"bfd": map[string]any{
				"receiveIntervalMilliseconds":  router.BFDInterval.Milliseconds(),
				"transmitIntervalMilliseconds": router.BFDInterval.Milliseconds(),
				"detectMultiplier":             router.BFDMultiplier}}}}
		v["bgpAdvertisements"] = []any{map[string]any{"name": BGPPoolName, "spec": map[string]any{
			"ipPools": []string{BGPPoolName}, "peers": []string{"router"}}}}
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte("# The lab's values for charts/frontdesk, given to helm install -f.\n"), out...), nil
}

// helm runs the lab's helm (the pinned CLI, built by up) against the lab's API server, from
// inside the control-plane namespace where the supervisor runs; its output goes to logs/helm.log.
func (s *supervisor) helm(ctx context.Context, args ...string) error {
	logf, err := os.OpenFile(s.o.logPath("helm"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	args = append(args, "--kubeconfig="+s.o.Kubeconfig(), "--namespace="+s.o.chartNamespace())
	_, _ = fmt.Fprintf(logf, "=== %s helm %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, s.o.bin("helm"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Helm's caches and config stay inside the lab's folder, not in the user's home.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(s.o.Dir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(s.o.Dir, "helm", "config"), "HELM_DATA_HOME="+filepath.Join(s.o.Dir, "helm", "data"))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm %s: %w (see %s)", args[0], err, s.o.logPath("helm"))
	}
	return nil
}

// installAddons applies what a cluster has before frontdesk: CoreDNS behind kube-dns (the
// kubelets' clusterDNS) and, when it is the node proxy, kube-proxy, with kubectl as a user would.
func (s *supervisor) installAddons(ctx context.Context, cp *controlplane.Cluster, imgs deployImages) error {
	p := addons.Params{ServiceCIDR: s.plan.ServiceCIDR, ClusterDomain: clusterDomain, ClusterCIDR: s.plan.ClusterCIDR,
		NodePortCIDR: s.plan.LAN, APIServer: cp.Config.Host, CoreDNSImage: imgs.coreDNS, KubeProxyImage: imgs.kubeProxy}
	if got := addons.DNSAddr(s.plan.ServiceCIDR); got != s.plan.ClusterDNS {
		return fmt.Errorf("kube-dns would get %s, the kubelets' clusterDNS is %s", got, s.plan.ClusterDNS)
	}
	manifest, err := addons.CoreDNS(p)
	if err != nil {
		return err
	}
	what := "CoreDNS (" + imgs.coreDNS + ") behind kube-dns " + s.plan.ClusterDNS.String()
	if s.o.Proxy == ProxyKubeProxy {
		if imgs.kubeProxy == "" {
			return errors.New("images: no kube-proxy image (make images builds it from the pinned Kubernetes)")
		}
		kp, err := addons.KubeProxy(p)
		if err != nil {
			return err
		}
		manifest = append(append(manifest, "\n---\n"...), kp...)
		what += ", kube-proxy DaemonSet (" + imgs.kubeProxy + ", nftables mode)"
	}
	path := filepath.Join(s.o.Dir, "addons.yaml")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, s.o.k8s("kubectl"), "--kubeconfig="+s.o.Kubeconfig(),
		"apply", "--server-side", "--field-manager=frontdesk-lab", "-f", path).CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply -f %s: %w: %s", path, err, out)
	}
	s.progressf("applied %s", what)
	return nil
}

// installRelease installs charts/frontdesk with helm and the lab's values: the controller
// Deployment (two replicas, leader election), the speaker DaemonSet (with the node proxy unless
// kube-proxy is the node proxy), the CRDs, RBAC and the lab's pools and advertisements.
func (s *supervisor) installRelease(ctx context.Context, cp *controlplane.Cluster, imgs deployImages) error {
	values, err := releaseValues(releaseSpec{plan: s.plan, bgp: s.o.BGP, proxy: s.o.Proxy == ProxyFrontdesk,
		apiServer: cp.Config.Host, registry: imgs.registry, tag: imgs.tag})
	if err != nil {
		return err
	}
	path := s.o.ValuesFile()
	if err := os.WriteFile(path, values, 0o644); err != nil {
		return err
	}
	var nodes []string
	for _, n := range s.plan.Nodes {
		nodes = append(nodes, n.Name)
	}
	if err := writeBootIDs(ctx, cp.Client, s.o.chartNamespace(), nodes); err != nil {
		return err
	}
	began := time.Now()
	args := []string{"install", ChartRelease, filepath.Join(s.o.Repo, "charts", "frontdesk"), "--create-namespace", "--values=" + path}
	for _, v := range s.o.HelmSets {
		args = append(args, "--set="+v)
	}
	if err := s.helm(ctx, args...); err != nil {
		return err
	}
	pools := fmt.Sprintf("IPPool lan (%s) over ARP", s.plan.L2Pool)
	if s.o.BGP {
		pools += fmt.Sprintf(", IPPool %s (%s) over BGP to the router (AS %d)", BGPPoolName, s.plan.BGPPool, s.plan.RouterASN)
	}
	sets := ""
	for _, v := range s.o.HelmSets {
		sets += " --set=" + v
	}
	s.progressf("helm install %s charts/frontdesk -n %s --values=%s%s (images %s/frontdesk-lb/...:%s; %s) in %s",
		ChartRelease, s.o.chartNamespace(), filepath.Base(path), sets, imgs.registry, imgs.tag, pools,
		time.Since(began).Round(100*time.Millisecond))
	return nil
}

// Workloads of the lab's components, whose rollout up waits for.
var (
	corednsDeployment  = workload{"Deployment", metav1.NamespaceSystem, "coredns"}
	kubeProxyDaemonSet = workload{"DaemonSet", metav1.NamespaceSystem, "kube-proxy"}
)

func (s *supervisor) speakerDaemonSet() workload {
	return workload{"DaemonSet", s.o.chartNamespace(), ChartRelease + "-speaker"}
}

func (s *supervisor) controllerDeployment() workload {
	return workload{"Deployment", s.o.chartNamespace(), ChartRelease + "-controller"}
}

// waitComponents waits for every component's rollout, the node proxy's first.
func (s *supervisor) waitComponents(ctx context.Context, cp *controlplane.Cluster) error {
	began := time.Now()
	first := s.speakerDaemonSet()
	if s.o.Proxy == ProxyKubeProxy {
		first = kubeProxyDaemonSet
	}
	if err := waitRollout(ctx, cp.Client, rolloutTimeout, first); err != nil {
		return fmt.Errorf("%w (kubectl -n %s describe pods; the kubelets' logs in %s)", err, first.namespace, filepath.Join(s.o.Dir, "logs"))
	}
	s.progressf("%s rolled out on %d nodes in %s", first, len(s.plan.Nodes), time.Since(began).Round(100*time.Millisecond))
	rest := []workload{s.speakerDaemonSet(), s.controllerDeployment(), corednsDeployment}
	if err := waitRollout(ctx, cp.Client, rolloutTimeout, rest...); err != nil {
		return fmt.Errorf("%w (kubectl describe pods; the kubelets' logs in %s)", err, filepath.Join(s.o.Dir, "logs"))
	}
	s.progressf("rolled out: %s, %s, %s in %s", s.speakerDaemonSet(), s.controllerDeployment(), corednsDeployment,
		time.Since(began).Round(100*time.Millisecond))
	return nil
}
