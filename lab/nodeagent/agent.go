// Package nodeagent is the lab's kubelet: it registers a Node, keeps its Lease and status fresh,
// and runs the Pods scheduled to it as processes, each Pod in a network namespace of its own with
// a routable address, reporting their IP, readiness and state the way a kubelet does.
//
// Images are not pulled: each known image maps to a program on this machine (Programs); a Pod
// with any other image waits with reason ErrImagePull and a message naming the images the lab
// runs. See lab/README.md for what is and is not honoured.
package nodeagent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// Config is one node agent's.
type Config struct {
	Plan       topology.Plan
	NodeName   string
	NodeNS     string // the namespace the agent runs in, where Pods' veths end
	NodeIP     netip.Addr
	PodCIDR    netip.Prefix
	Nameserver netip.Addr // the lab DNS, written into every Pod's resolv.conf
	Programs   Programs
	Dir        string // Pod logs: <Dir>/<namespace>_<name>_<uid>/<container>.log
	Logger     logr.Logger
}

// resync bounds how long a change the informer does not signal (a process exit is signalled;
// readiness is not) takes to show.
const resync = time.Second

// Agent runs one node. Make it with New and run it with Run.
type Agent struct {
	cfg  Config
	kube kubernetes.Interface
	log  logr.Logger
	ipam *ipam
	pods map[types.UID]*pod // owned by the loop
	wake chan struct{}
	wg   sync.WaitGroup // process waiters and terminations
}

// pod is a Pod the agent runs.
type pod struct {
	uid       types.UID
	namespace string
	name      string
	sb        sandbox
	dir       string
	started   time.Time
	cs        []*container
	// terminating is set when the Pod's processes are being stopped; done is closed when they
	// have stopped and the sandbox is gone.
	terminating bool
	done        chan struct{}
}

// New returns an agent for cfg.
func New(cfg Config, kube kubernetes.Interface) *Agent {
	return &Agent{
		cfg: cfg, kube: kube, log: cfg.Logger, ipam: newIPAM(cfg.PodCIDR),
		pods: map[types.UID]*pod{}, wake: make(chan struct{}, 1),
	}
}

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run registers the Node and runs its Pods until ctx ends; then it stops every Pod (as a node
// that shuts down) and returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.register(ctx); err != nil {
		return err
	}
	hbCtx, cancelHB := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { a.heartbeat(hbCtx) })
	defer hb.Wait()
	defer cancelHB()

	factory := informers.NewSharedInformerFactoryWithOptions(a.kube, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods()
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.poke() },
		UpdateFunc: func(any, any) { a.poke() },
		DeleteFunc: func(any) { a.poke() },
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	a.log.Info("node agent running", "node", a.cfg.NodeName, "podCIDR", a.cfg.PodCIDR)

	tick := time.NewTicker(resync)
	defer tick.Stop()
	for {
		a.sync(ctx, inf.Lister())
		select {
		case <-ctx.Done():
			a.shutdown()
			return nil
		case <-a.wake:
		case <-tick.C:
		}
	}
}

// shutdown stops every Pod and waits for the stops and process waiters.
func (a *Agent) shutdown() {
	for _, p := range a.pods {
		if !p.terminating {
			a.terminate(p, 2*time.Second)
		}
	}
	a.wg.Wait()
}

// sync is one pass: start new Pods, stop deleted ones, restart exited containers, probe, and
// publish the status of every Pod whose status changed.
func (a *Agent) sync(ctx context.Context, lister corelisters.PodLister) {
	all, err := lister.List(everything)
	if err != nil {
		a.log.Error(err, "listing Pods")
		return
	}
	seen := map[types.UID]*corev1.Pod{}
	for _, obj := range all {
		seen[obj.UID] = obj
		p := a.pods[obj.UID]
		switch {
		case obj.DeletionTimestamp != nil:
			if p == nil {
				a.finishDelete(ctx, obj)
			} else if !p.terminating {
				a.terminate(p, gracePeriod(obj))
			}
		case p == nil && !terminal(obj):
			a.admit(ctx, obj)
		}
	}
	type active struct {
		p   *pod
		obj *corev1.Pod
	}
	var running []active
	for uid, p := range a.pods {
		obj, exists := seen[uid]
		if !exists && !p.terminating {
			a.terminate(p, 2*time.Second) // force-deleted: nobody waits for the grace period
		}
		if p.terminating {
			select {
			case <-p.done:
				a.ipam.release(p.sb.ip)
				delete(a.pods, uid)
				if exists {
					a.finishDelete(ctx, obj)
				}
			default:
			}
			continue
		}
		a.runContainers(ctx, p, obj)
		running = append(running, active{p, obj})
	}
	// Probes of every Pod at once: a Pod whose probe hangs until its timeout does not delay the
	// others.
	var probes sync.WaitGroup
	for _, r := range running {
		probes.Go(func() { probe(ctx, r.p, r.obj, a.cfg.Programs) })
	}
	probes.Wait()
	for _, r := range running {
		a.publish(ctx, r.p, r.obj)
	}
}

// admit sets a new Pod up: an address, its sandbox, its programs. A Pod whose sandbox cannot
// be made is retried on the next pass.
func (a *Agent) admit(ctx context.Context, obj *corev1.Pod) {
	ip, err := a.ipam.allocate(obj.UID)
	if err != nil {
		a.log.Error(err, "no address for Pod", "pod", klogRef(obj))
		return
	}
	sb, err := a.setUp(ctx, obj.UID, obj.Namespace, ip)
	if err != nil {
		a.ipam.release(ip)
		a.log.Error(err, "setting up the Pod's network", "pod", klogRef(obj))
		return
	}
	dir := filepath.Join(a.cfg.Dir, fmt.Sprintf("%s_%s_%s", obj.Namespace, obj.Name, obj.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		a.log.Error(err, "Pod log directory", "pod", klogRef(obj))
	}
	p := &pod{uid: obj.UID, namespace: obj.Namespace, name: obj.Name, sb: sb, dir: dir, started: time.Now(), done: make(chan struct{})}
	for _, spec := range obj.Spec.Containers {
		c := &container{spec: spec}
		c.argv, c.argvErr = Argv(spec.Image, spec.Command, spec.Args, a.cfg.Programs)
		p.cs = append(p.cs, c)
	}
	a.pods[obj.UID] = p
	a.log.Info("Pod admitted", "pod", klogRef(obj), "ip", ip, "netns", sb.ns)
}

// runContainers records exits and (re)starts containers as the restart policy says.
func (a *Agent) runContainers(ctx context.Context, p *pod, obj *corev1.Pod) {
	now := time.Now()
	for _, c := range p.cs {
		if c.argvErr != nil {
			continue
		}
		if c.cur != nil && c.cur.exited() {
			c.last, c.cur, c.ready = c.cur, nil, false
			if restarts(obj.Spec.RestartPolicy, c.last.code) {
				c.next = now.Add(backoff(c.restarts))
			}
		}
		if c.cur != nil || (c.last != nil && !restarts(obj.Spec.RestartPolicy, c.last.code)) || now.Before(c.next) {
			continue
		}
		if c.last != nil {
			c.restarts++
		}
		if err := c.start(p.sb.ns, hostname(obj), filepath.Join(p.dir, c.spec.Name+".log"), a.env(obj, c, p.sb.ip), a.poke, &a.wg); err != nil {
			a.log.Error(err, "starting container", "pod", klogRef(obj), "container", c.spec.Name)
			c.next = now.Add(backoff(c.restarts))
		}
	}
}

func restarts(policy corev1.RestartPolicy, code int) bool {
	return policy == corev1.RestartPolicyAlways || policy == "" || (policy == corev1.RestartPolicyOnFailure && code != 0)
}

// terminate stops p's processes in the background (SIGTERM, grace, SIGKILL) and removes its
// sandbox; p.done is closed when that is finished.
func (a *Agent) terminate(p *pod, grace time.Duration) {
	p.terminating = true
	a.wg.Go(func() {
		defer close(p.done)
		stop(p.cs, grace)
		if err := a.tearDown(context.Background(), p.sb); err != nil {
			a.log.Error(err, "removing the Pod's network", "pod", p.namespace+"/"+p.name)
		}
		a.poke()
	})
}

// finishDelete removes a Pod object whose processes are gone, as the kubelet does once the
// containers have stopped (a delete with no grace period, for this UID only).
func (a *Agent) finishDelete(ctx context.Context, obj *corev1.Pod) {
	err := a.kube.CoreV1().Pods(obj.Namespace).Delete(ctx, obj.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &obj.UID},
	})
	if err != nil && !isGone(err) {
		a.log.Error(err, "deleting the stopped Pod", "pod", klogRef(obj))
	}
}

func gracePeriod(obj *corev1.Pod) time.Duration {
	switch {
	case obj.DeletionGracePeriodSeconds != nil:
		return time.Duration(*obj.DeletionGracePeriodSeconds) * time.Second
	case obj.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*obj.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func terminal(obj *corev1.Pod) bool {
	return obj.Status.Phase == corev1.PodSucceeded || obj.Status.Phase == corev1.PodFailed
}

// hostname is the Pod's hostname: spec.hostname, else its name, cut to 63 bytes as the kubelet
// does.
func hostname(obj *corev1.Pod) string {
	h := obj.Name
	if obj.Spec.Hostname != "" {
		h = obj.Spec.Hostname
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func klogRef(obj *corev1.Pod) string { return obj.Namespace + "/" + obj.Name }
