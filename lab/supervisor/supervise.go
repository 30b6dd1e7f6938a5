package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

type supervisor struct {
	o        Options
	plan     topology.Plan
	state    *stateFile
	progress *os.File
	wg       sync.WaitGroup
	procs    group

	exitsMu sync.Mutex
	exits   map[string]exitRecord // by component (nodeFailure)
}

// exitRecord is how often a component exited, and how the last time.
type exitRecord struct {
	n    int // nodeFailure gives a node component its restarts before failing the lab
	last error
}

// exited records how a component exited.
func (s *supervisor) exited(name string, err error) {
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	if s.exits == nil {
		s.exits = map[string]exitRecord{}
	}
	s.exits[name] = exitRecord{n: s.exits[name].n + 1, last: err}
}

func (s *supervisor) progressf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.progress, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Supervise runs the lab's components until ctx ends (SIGTERM), then stops them. It must run
// inside the control-plane namespace (up starts it there): the control plane binds that
// namespace's LAN address. Progress goes to progress.log, the phase to state.json.
func Supervise(ctx context.Context, o Options) (err error) {
	plan, err := o.Plan()
	if err != nil {
		return err
	}
	prog, err := os.OpenFile(o.progressPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = prog.Close() }()
	s := &supervisor{o: o, plan: plan, progress: prog,
		state: &stateFile{s: State{Options: o, Supervisor: os.Getpid(), Phase: PhaseStarting, Pids: map[string]int{}}}}
	if err := s.state.update(func(*State) {}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.progressf("failed: %v", err)
			_ = s.state.update(func(st *State) { st.Phase, st.Error = PhaseFailed, err.Error() })
		}
	}()

	cp, err := s.startControlPlane()
	if err != nil {
		return err
	}
	defer func() { _ = cp.Close() }()
	defer s.wg.Wait()
	defer s.procs.stopAll()

	if err := s.bringUp(ctx, cp); err != nil {
		return err
	}
	_ = s.state.update(func(st *State) { st.Phase, st.APIServer = PhaseReady, cp.Config.Host })
	s.progressf("ready")
	<-ctx.Done()
	s.progressf("stopping")
	_ = s.state.update(func(st *State) { st.Phase = PhaseStopping })
	return nil
}

func (s *supervisor) startControlPlane() (*controlplane.Cluster, error) {
	s.progressf("control plane: etcd, kube-apiserver (on %s), kube-controller-manager, kube-scheduler", s.plan.ControlPlane)
	began := time.Now()
	_ = os.Setenv(controlplane.BinDirEnv, s.o.K8sBin)
	cp, err := controlplane.New(
		controlplane.WithWorkDir(filepath.Join(s.o.Dir, "cp")),
		controlplane.WithBindAddress(s.plan.ControlPlane),
		controlplane.WithServiceCIDR(s.plan.ServiceCIDR),
		// Every controller a real cluster's kube-controller-manager runs by default ("*"): among
		// them node-lifecycle, which removes the not-ready taint the API server puts on every new
		// Node; daemonset, which runs the speakers (and kube-proxy); endpoints and
		// endpointslice-mirroring, which Kubernetes' network conformance tests check. Its cloud
		// controllers run in frontdesk-controller, the lab's cloud-controller-manager.
		controlplane.WithControllerManager("*"),
		controlplane.WithScheduler(),
		// Real kubelets: Node authorization and NodeRestriction, the API server's client
		// certificate for kubectl exec and logs.
		controlplane.WithNodeAuthorization(),
	)
	if err != nil {
		return nil, err
	}
	s.progressf("control plane ready in %s: %s", time.Since(began).Round(100*time.Millisecond), cp.Config.Host)
	return cp, nil
}

// bringUp starts everything after the control plane, in dependency order: the network's route
// keeper and router, the nodes (containerd, images, kubelet), then what a user installs on a new
// cluster: the cluster DNS (and kube-proxy when it is the node proxy), and frontdesk with helm.
func (s *supervisor) bringUp(ctx context.Context, cp *controlplane.Cluster) error {
	s.startRouteKeeper(ctx)
	imgs, err := findImages(s.o)
	if err != nil {
		return err
	}
	if err := s.startRouter(ctx, imgs); err != nil {
		return err
	}
	regBin, err := s.registryBin(ctx)
	if err != nil {
		return err
	}
	if err := s.startRegistry(ctx, regBin); err != nil {
		return err
	}
	// The registry fills while the nodes import the same images; Pods pull only after both.
	began := time.Now()
	pushed := make(chan error, 1)
	go func() { pushed <- s.pushImages(ctx, regBin, imgs.archives) }()
	if err := s.startNodes(ctx, cp, imgs); err != nil {
		return err
	}
	if err := <-pushed; err != nil {
		return fmt.Errorf("the lab registry: %w", err)
	}
	s.progressf("lab registry on %s holds the %d images of %s (%s)", s.registryAddr(), len(imgs.archives), s.o.Images,
		time.Since(began).Round(100*time.Millisecond))
	if err := s.waitNodesReady(ctx, cp.Client); err != nil {
		return err
	}
	s.wg.Go(func() { s.keepPodCIDRs(ctx, cp.Client) })
	deploy, err := findDeployImages(imgs.names)
	if err != nil {
		return err
	}
	if err := s.installAddons(ctx, cp, deploy); err != nil {
		return err
	}
	if err := s.installRelease(ctx, cp, deploy); err != nil {
		return err
	}
	return s.waitComponents(ctx, cp)
}

// start supervises p in the background; stopAll stops it.
func (s *supervisor) start(ctx context.Context, p proc) {
	p.log = s.o.logPath(strings.ReplaceAll(p.name, "/", "_"))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		s.supervise(pctx, p)
	})
	s.procs.add(func() { cancel(); <-done })
}

func (s *supervisor) waitNodesReady(ctx context.Context, kube kubernetes.Interface) error {
	var notReady []string
	began := time.Now()
	var failed error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if failed = s.nodeFailure(); failed != nil {
			return false, failed
		}
		notReady = notReady[:0]
		for _, n := range s.plan.Nodes {
			node, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && node.Spec.PodCIDR == "" {
				_ = s.setPodCIDR(ctx, kube, n)
			}
			if err != nil || !nodeReady(node) {
				notReady = append(notReady, n.Name)
			}
		}
		return len(notReady) == 0, nil
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return errors.Join(fmt.Errorf("nodes not Ready: %s (see the kubelet_<node>.log and containerd_<node>.log in %s)",
			strings.Join(notReady, ", "), filepath.Join(s.o.Dir, "logs")), err)
	}
	s.progressf("nodes Ready: %d in %s, each running containerd and the kubelet (system:node:<name>), Pod ranges in spec.podCIDR",
		len(s.plan.Nodes), time.Since(began).Round(100*time.Millisecond))
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
