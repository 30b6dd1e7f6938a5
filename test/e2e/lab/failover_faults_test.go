//go:build netns && integration

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// fault is one way of losing a node (or a part of it) and the way back. apply happens to the
// node the trial picked; restore undoes what apply did that nothing else undoes (a link set up
// again, processes continued); what the kubelet or the supervisor bring back by themselves
// (a killed speaker, containerd) is left to them, and the trial waits for it.
type fault interface {
	name() string // the metrics' prefix, e.g. "linkcut"
	apply(ctx context.Context, tr *trial) error
	restore(ctx context.Context, tr *trial) error
}

// restarter is a fault after which the node runs its speaker anew (all: every container of the
// node): the trial then waits for containers started after the fault, not trusting Pod and Node
// status from before it, which a dead kubelet leaves as it was.
type restarter interface{ restarts() (all bool) }

func (speakerPodStop) restarts() bool { return false }
func (speakerKill) restarts() bool    { return false }
func (powerOff) restarts() bool       { return true }

// trial is one fault on one node.
type trial struct {
	l       *lab
	node    topology.Node
	speaker corev1.Pod // the node's speaker Pod when the trial began
	pids    []int      // processes a fault stopped, for its restore
}

// faults lists every fault by name; FRONTDESK_FAILOVER_FAULTS picks some, defaultFaults are
// issue 14's.
var (
	faults = map[string]fault{
		"linkcut":  linkCut{},
		"podstop":  speakerPodStop{},
		"sigkill":  speakerKill{},
		"freeze":   freeze{},
		"poweroff": powerOff{},
	}
	defaultFaults = []string{"linkcut", "podstop", "sigkill"}
)

// linkCut takes the node's LAN leg down: the node, its speaker and its Pods drop off the LAN
// at once; the route keeper restores the node's routes when it comes back.
type linkCut struct{}

func (linkCut) name() string { return "linkcut" }
func (linkCut) apply(ctx context.Context, tr *trial) error {
	_, err := netns.IP(ctx, "-n", tr.node.NS, "link", "set", "eth0", "down")
	return err
}
func (linkCut) restore(ctx context.Context, tr *trial) error {
	_, err := netns.IP(ctx, "-n", tr.node.NS, "link", "set", "eth0", "up")
	return err
}

// speakerPodStop stops the speaker Pod's sandbox through the CRI (crictl stopp): containerd
// kills its containers at once (no grace period), as a runtime losing the Pod would; the
// kubelet then makes a new sandbox for the same Pod.
type speakerPodStop struct{}

func (speakerPodStop) name() string { return "podstop" }
func (speakerPodStop) apply(ctx context.Context, tr *trial) error {
	id, err := tr.sandbox(ctx)
	if err != nil {
		return err
	}
	_, err = tr.l.crictl(ctx, tr.node.Name, "stopp", id)
	return err
}
func (speakerPodStop) restore(context.Context, *trial) error { return nil }

// speakerKill SIGKILLs the speaker process itself (its container's init process); the kubelet
// restarts the container.
type speakerKill struct{}

func (speakerKill) name() string { return "sigkill" }
func (speakerKill) apply(ctx context.Context, tr *trial) error {
	pid, err := tr.l.speakerPID(ctx, tr.node.Name, tr.speaker.Name)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
func (speakerKill) restore(context.Context, *trial) error { return nil }

// freeze stops every process of the node (SIGSTOP): what runs in its network namespace
// (containerd, its shims, the kubelet, hostNetwork containers such as the speaker) and in its
// cgroup root (every container). The kernel keeps forwarding by the rules already there: a hung
// node, not a dead one. restore continues them.
type freeze struct{}

func (freeze) name() string { return "freeze" }
func (freeze) apply(ctx context.Context, tr *trial) error {
	tr.pids = tr.l.nodeProcs(ctx, tr.node)
	return signalAll(tr.pids, syscall.SIGSTOP)
}
func (freeze) restore(ctx context.Context, tr *trial) error {
	// Processes started meanwhile (none should be: their parents are stopped) are continued too.
	return signalAll(append(tr.pids, tr.l.nodeProcs(ctx, tr.node)...), syscall.SIGCONT)
}

// powerOff takes the node off the LAN and SIGKILLs every process of it (nodeProcs): containerd,
// its shims, the kubelet and every container die at once. The supervisor starts containerd and
// the kubelet again 3 s later, as a booting machine's units would, and the kubelet makes new
// sandboxes for its Pods; restore puts the node back on the LAN. Unlike a real power cycle, the
// namespace's kernel state (nftables tables, conntrack, routes) survives.
type powerOff struct{}

func (powerOff) name() string { return "poweroff" }
func (powerOff) apply(ctx context.Context, tr *trial) error {
	if err := (linkCut{}).apply(ctx, tr); err != nil {
		return err
	}
	// The node boots anew: its speaker must come back with another boot ID (the lab's nodes
	// share one kernel), or its peers would take it for a speaker restart and its Pods back
	// whole instead of as they turn ready (docs/design/dead-nodes.md).
	if _, err := supervisor.RenewBootID(ctx, tr.l.kube, tr.node.Name); err != nil {
		return fmt.Errorf("a new boot ID for %s: %w", tr.node.Name, err)
	}
	return signalAll(tr.l.nodeProcs(ctx, tr.node), syscall.SIGKILL)
}
func (powerOff) restore(ctx context.Context, tr *trial) error { return (linkCut{}).restore(ctx, tr) }

func signalAll(pids []int, sig syscall.Signal) error {
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill -%d %d: %w", sig, pid, err))
		}
	}
	return errors.Join(errs...)
}

// nodeProcs lists the processes of a node: those in its network namespace and those in its
// cgroup root (in every hierarchy), never the test's own.
func (l *lab) nodeProcs(ctx context.Context, n topology.Node) []int {
	var pids []int
	if out, err := netns.IP(ctx, "netns", "pids", n.NS); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	for _, root := range kubenode.CgroupsOf(l.o.Name + "-" + n.Name) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil //nolint:nilerr // a cgroup removed meanwhile: its processes are gone
			}
			if d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	slices.Sort(pids)
	pids = slices.Compact(pids)
	return slices.DeleteFunc(pids, func(p int) bool { return p <= 1 || p == os.Getpid() })
}

// sandbox is the CRI id of the trial's speaker Pod's ready sandbox on its node.
func (tr *trial) sandbox(ctx context.Context) (string, error) {
	return tr.l.speakerSandbox(ctx, tr.node.Name, tr.speaker.Name)
}

// speakerSandbox is the CRI id of speaker Pod pod's ready sandbox on node.
func (l *lab) speakerSandbox(ctx context.Context, node, pod string) (string, error) {
	out, err := l.crictl(ctx, node, "pods", "--namespace", supervisor.ChartNamespace,
		"--name", "^"+pod+"$", "--state", "ready", "-q")
	if err != nil || out == "" {
		return "", fmt.Errorf("ready sandbox of %s on %s: %q %w", pod, node, out, err)
	}
	return strings.Fields(out)[0], nil
}

// speakerPID is the process of speaker Pod pod's running speaker container on node (its
// container's init process), as the CRI reports it.
func (l *lab) speakerPID(ctx context.Context, node, pod string) (int, error) {
	id, err := l.speakerSandbox(ctx, node, pod)
	if err != nil {
		return 0, err
	}
	c, err := l.crictl(ctx, node, "ps", "--pod", id, "--name", "^speaker$", "--state", "running", "-q")
	if err != nil || c == "" {
		return 0, fmt.Errorf("speaker container in sandbox %s: %q %w", id, c, err)
	}
	out, err := l.crictl(ctx, node, "inspect", "-o", "go-template", "--template", "{{.info.pid}}", strings.Fields(c)[0])
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(out)
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("speaker's pid from crictl inspect: %q", out)
	}
	return pid, nil
}

// crictl runs crictl against a node's containerd.
func (l *lab) crictl(ctx context.Context, node string, args ...string) (string, error) {
	ep := kubenode.Node{Dir: filepath.Join(l.o.Dir, "nodes", node)}.Endpoint()
	cmd := exec.CommandContext(ctx, filepath.Join(l.o.NodeBin, "crictl"),
		append([]string{"--runtime-endpoint=" + ep, "--image-endpoint=" + ep, "--timeout=10s"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr // crictl warns there about its missing config file
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("crictl %s on %s: %w: %s", strings.Join(args, " "), node, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// speakerPod is the newest speaker Pod on a node that is not being deleted.
func (l *lab) speakerPod(ctx context.Context, node string) (corev1.Pod, bool) {
	pods, err := l.kube.CoreV1().Pods(supervisor.ChartNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=speaker", FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return corev1.Pod{}, false
	}
	var best corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && (best.Name == "" || best.CreationTimestamp.Before(&p.CreationTimestamp)) {
			best = p
		}
	}
	return best, best.Name != ""
}

// inBackOff says whether the Pod's speaker container waits in the kubelet's crash-loop back-off.
func inBackOff(p corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}

// startedSince says whether every container of the Pod runs, started at since or later (the
// API keeps whole seconds).
func startedSince(p corev1.Pod, since time.Time) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.State.Running.StartedAt.Time.Before(since.Truncate(time.Second)) {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

// nodeReady says whether a Node's Ready condition is true.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
