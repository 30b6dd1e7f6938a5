// Package supervisor runs the lab: `up` (on the host: packages, builds, the topology, then the
// supervisor in the background), the supervisor itself (inside the control-plane namespace: the
// control plane, the router, the lab registry and per node containerd and the kubelet, restarted
// when they exit; then CoreDNS and frontdesk installed as a user would, with kubectl and helm),
// and `down` (everything removed by name, even when the supervisor is gone). Design notes in
// lab/README.md.
package supervisor

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// Node proxies the lab can run on each node.
const (
	ProxyKubeProxy = "kube-proxy" // the real kube-proxy, nftables mode
	ProxyFrontdesk = "frontdesk"  // frontdesk's nftables proxy in the speaker (--proxy=nftables): the default
)

// DefaultName is the lab's name prefix unless told otherwise.
const DefaultName = "fdlab"

// DefaultRoot holds each lab's directory: tmpfs, gone at reboot with the namespaces.
const DefaultRoot = "/run/frontdesk-lab"

// Options are the lab's settings; up writes them to the state file so that the supervisor and
// later commands (down, exec) use the same.
type Options struct {
	Name  string // namespace prefix, see topology.New
	Dir   string // the lab's files: bin/, logs/, cp/, nodes/, state.json; removed by down
	Nodes int
	Proxy string
	// BGP turns the speakers' BGP on: the IPPool "bgp" (Plan.BGPPool), a BGPPeer for the router
	// and a BGPAdvertisement come with the chart's values, and the router's gobgpd learns the
	// pool's addresses from every node (make lab's default).
	BGP    bool
	Repo   string // the frontdesk checkout the binaries are built from
	K8sBin string // kube-apiserver, kubelet, kubectl, kube-proxy...: hack/k8s/build.sh's folder
	// NodeBin is lab/tools/node-build.sh's folder: containerd, its runc shim, ctr, crictl and the
	// CNI plugins in cni/.
	NodeBin string
	// Images is the folder of OCI archives (make images: bin/images) every node's containerd
	// imports: the Pods' images and the sandbox (pause) image.
	Images string
	// HelmSets are --set values (key=value) given to helm install after the lab's values file:
	// a setting a run needs (make conformance allows the externalIP its test uses).
	HelmSets []string
	// ChartNamespace is where frontdesk is installed; empty: the package's ChartNamespace.
	// make conformance puts it in kube-system, where Kubernetes' e2e tests look for the node
	// proxy's Pods.
	ChartNamespace string
	// Prebuilt skips building: Dir/bin already holds frontdesk-lab, frontdesk-controller,
	// frontdesk-speaker, http-echo, the chart renderer and gobgp (tests build them once).
	Prebuilt bool
	// DieWithParent ties the supervisor to the process that ran Up (tests: a test binary killed
	// by its timeout takes the lab's processes with it; down still removes the namespaces).
	DieWithParent bool      `json:"-"`
	Out           io.Writer `json:"-"` // progress lines and the usage summary
}

// Plan is the lab's network plan.
func (o Options) Plan() (topology.Plan, error) { return topology.New(o.Name, o.Nodes) }

// chartNamespace is where the lab installs frontdesk.
func (o Options) chartNamespace() string {
	if o.ChartNamespace != "" {
		return o.ChartNamespace
	}
	return ChartNamespace
}

func (o Options) bin(name string) string { return filepath.Join(o.Dir, "bin", name) }
func (o Options) k8s(name string) string { return filepath.Join(o.K8sBin, name) }

// Kubeconfig is the admin kubeconfig; its server is on the control-plane namespace's LAN address,
// so it works only from inside the lab's namespaces (the kubectl wrapper runs there).
func (o Options) Kubeconfig() string { return filepath.Join(o.Dir, "cp", "admin.kubeconfig") }

// Kubectl is the wrapper script that runs kubectl inside the control-plane namespace.
func (o Options) Kubectl() string { return filepath.Join(o.Dir, "kubectl") }

func (o Options) statePath() string { return filepath.Join(o.Dir, "state.json") }
func (o Options) progressPath() string {
	return filepath.Join(o.Dir, "progress.log")
}
func (o Options) logPath(name string) string { return filepath.Join(o.Dir, "logs", name+".log") }
func (o Options) nodesDir() string           { return filepath.Join(o.Dir, "nodes") }

// sysctlsPath records the machine's kernel settings that the kubelets change (kubenode.SaveSysctls).
func (o Options) sysctlsPath() string { return filepath.Join(o.Dir, "host-sysctls.json") }

func (o Options) validate() error {
	if _, err := o.Plan(); err != nil {
		return err
	}
	switch o.Proxy {
	case ProxyFrontdesk, ProxyKubeProxy:
	default:
		return fmt.Errorf("--proxy=%q: accepted: %s (frontdesk's nftables proxy), %s (the real kube-proxy, nftables mode)", o.Proxy, ProxyFrontdesk, ProxyKubeProxy)
	}
	if o.Dir == "" || o.K8sBin == "" || o.NodeBin == "" || o.Images == "" {
		return fmt.Errorf("the lab directory and the folders of the Kubernetes binaries, the node binaries and the images must be set")
	}
	return nil
}
