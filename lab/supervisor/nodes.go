package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// containerdStart bounds the wait for a node's containerd to answer on its socket.
const containerdStart = 30 * time.Second

// resolvConf is the kubelets' resolvConf: Pods with dnsPolicy Default get no nameserver (the lab
// resolves nothing outside), ClusterFirst ones only the cluster's (clusterDNS).
const resolvConf = "# The lab's nodes have no upstream DNS: nothing outside the lab is resolved.\n"

// nodeImages are the OCI archives every node imports, the sandbox image among them, and the
// router's GoBGP image.
type nodeImages struct {
	archives []string
	names    []string // every image name the archives hold
	sandbox  string   // the image whose repository is "pause"
	// gobgp is the image of repository gobgpRepo, in the archive gobgpArchive (the router's).
	gobgp, gobgpArchive string
}

// findImages lists the archives of o.Images, reading each once, and picks the sandbox and GoBGP
// images from their names.
func findImages(o Options) (nodeImages, error) {
	archives, _ := filepath.Glob(filepath.Join(o.Images, "*.tar"))
	if len(archives) == 0 {
		return nodeImages{}, fmt.Errorf("images: no OCI archive in %s (make images builds them)", o.Images)
	}
	imgs := nodeImages{archives: archives}
	for _, a := range archives {
		names, err := kubenode.ArchiveImageNames(a)
		if err != nil {
			return nodeImages{}, fmt.Errorf("images: %w", err)
		}
		imgs.names = append(imgs.names, names...)
		for _, n := range names {
			switch repo := kubenode.Repository(n); {
			case repo == "pause" && imgs.sandbox == "":
				imgs.sandbox = n
			case repo == gobgpRepo && imgs.gobgp == "":
				imgs.gobgp, imgs.gobgpArchive = n, a
			}
		}
	}
	if imgs.sandbox == "" {
		return nodeImages{}, fmt.Errorf("images: no pause image (the Pods' sandbox) among the archives of %s", o.Images)
	}
	if imgs.gobgp == "" {
		return nodeImages{}, fmt.Errorf("images: no %s image (the router's) among the archives of %s (make images builds it)", gobgpRepo, o.Images)
	}
	return imgs, nil
}

// kubeNode is how node n's containerd and kubelet see it.
func (o Options) kubeNode(plan topology.Plan, n topology.Node, sandbox string) kubenode.Node {
	dir := filepath.Join(o.nodesDir(), n.Name)
	pki := filepath.Join(dir, "pki")
	runc, _ := exec.LookPath("runc")
	return kubenode.Node{Lab: o.Name, Name: n.Name, Dir: dir, IP: n.IP, PodCIDR: n.PodCIDR,
		ClusterDNS: plan.ClusterDNS, ClusterDomain: clusterDomain,
		ResolvConf: filepath.Join(o.nodesDir(), "resolv.conf"),
		NodeBin:    o.NodeBin, Runc: runc, SandboxImage: sandbox,
		Registry:   netip.AddrPortFrom(plan.ControlPlane, registryPort),
		Kubeconfig: filepath.Join(pki, "kubeconfig"), CAFile: filepath.Join(pki, "ca.crt"),
		ServingCert: filepath.Join(pki, "kubelet.crt"), ServingKey: filepath.Join(pki, "kubelet.key"),
	}
}

// crictl is the crictl command line for one of the lab's nodes.
func (o Options) crictl(node string) string {
	n := kubenode.Node{Dir: filepath.Join(o.nodesDir(), node), NodeBin: o.NodeBin}
	return filepath.Join(o.NodeBin, "crictl") + " --runtime-endpoint=" + n.Endpoint() + " ps"
}

// startNodes runs every node: its containerd (then its images imported) and its kubelet,
// authenticated as system:node:<name>. Stopping the lab stops each kubelet, removes its Pods
// through the CRI, then stops containerd (the group stops in reverse order of start).
func (s *supervisor) startNodes(ctx context.Context, cp *controlplane.Cluster, imgs nodeImages) error {
	if _, err := exec.LookPath("runc"); err != nil {
		return errors.New("runc is not installed (hack/install-deps.sh installs Debian's)")
	}
	if err := os.WriteFile(filepath.Join(s.o.nodesDir(), "resolv.conf"), []byte(resolvConf), 0o644); err != nil {
		return err
	}
	nodes := make([]kubenode.Node, len(s.plan.Nodes))
	for i, n := range s.plan.Nodes {
		kn := s.o.kubeNode(s.plan, n, imgs.sandbox)
		if _, err := cp.NodeCredentials(filepath.Join(kn.Dir, "pki"), n.Name, n.IP); err != nil {
			return fmt.Errorf("node %s: credentials: %w", n.Name, err)
		}
		if err := kubenode.Prepare(kn); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		s.start(ctx, proc{name: "containerd/" + n.Name, ns: n.NS, argv: kubenode.ContainerdArgs(kn)})
		nodes[i] = kn
	}
	// The nodes' containerds import in parallel: most of the time goes to unpacking layers.
	began := time.Now()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, kn := range nodes {
		wg.Go(func() {
			if err := kn.Ctr().Wait(ctx, containerdStart); err != nil {
				errs[i] = fmt.Errorf("%w; see %s", err, s.o.logPath("containerd_"+kn.Name))
				return
			}
			if err := kn.Ctr().Import(ctx, imgs.archives...); err != nil {
				errs[i] = fmt.Errorf("%w; see %s", err, s.o.logPath("containerd_"+kn.Name))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.progressf("containerd on each node, %d images imported in %s (sandbox %s)", len(imgs.archives),
		time.Since(began).Round(100*time.Millisecond), imgs.sandbox)
	if err := kubenode.SaveSysctls(s.o.sysctlsPath()); err != nil {
		return fmt.Errorf("saving the machine's kernel settings the kubelets change: %w", err)
	}
	for i, kn := range nodes {
		n := s.plan.Nodes[i]
		s.procs.add(func() {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := kubenode.RemovePods(rctx, kn); err != nil {
				s.progressf("%v", err)
			}
		})
		s.start(ctx, proc{name: "kubelet/" + n.Name, ns: n.NS, argv: kubenode.KubeletArgs(kn, s.o.k8s("kubelet"))})
	}
	return nil
}

// nodeFailureExits is how many exits of one node component fail the lab while it waits for the
// nodes: a component the supervisor restarts and that then runs is no failure. The kubelets of
// all nodes share one device-plugin socket path (fixed in the kubelet, outside --root-dir), and
// each removes the sockets there before it binds its own: kubelets starting at the same moment
// can find their socket taken and exit once ("bind: address already in use").
const nodeFailureExits = 3

// nodeFailure names a node component that exited nodeFailureExits times while the lab waited
// for the nodes, with its log file, or returns nil.
func (s *supervisor) nodeFailure() error {
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	names := make([]string, 0, len(s.exits))
	for name, e := range s.exits {
		if e.n >= nodeFailureExits && (strings.HasPrefix(name, "kubelet/") || strings.HasPrefix(name, "containerd/")) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	name := names[0]
	log := s.o.logPath(strings.ReplaceAll(name, "/", "_"))
	err := s.exits[name].last
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited (%w): %s; see %s", name, err, lastLine(log), log)
}

// lastLine is the last line of a log that looks like an error, or its last line.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-30; i-- {
		if l := lines[i]; strings.Contains(l, "E1") || strings.Contains(l, "level=fatal") ||
			strings.Contains(l, "level=error") || strings.Contains(strings.ToLower(l), "failed") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
