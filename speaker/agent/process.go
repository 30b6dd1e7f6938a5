package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// process is the speaker's parts, built from the options by start and taken down in one
// straight line by shutdown (release alone when start fails half way).
type process struct {
	o   Options
	log klog.Logger

	kube   kubernetes.Interface
	mem    *liveness.Membership
	ann    *l2.Announcer
	np     *nodeProxy // nil without --proxy
	events record.EventBroadcaster
	set    *loop.Informers
	loop   *loop.Loop
	bgp    *bgpmode.Protocol // nil without --bgp
	srv    *http.Server      // nil without --metrics-bind-address

	// runCtx is the heartbeats', the node proxy's, the dead-node exclusion's and the
	// informers'; loopCtx, under it, the loop's, whose Run closes loopDone.
	runCtx     context.Context
	cancelRun  context.CancelFunc
	cancelLoop context.CancelFunc
	loopDone   chan struct{}
	wg         sync.WaitGroup
	errc       chan error
}

// start builds and starts every part: liveness, the announcer, the node proxy, the one Event
// recorder, the heartbeats (once the loop and the proxy are ready), the dead-node exclusion,
// the informers, the protocols and the loop, and /metrics.
func start(stop context.Context, o Options) (*process, error) {
	p := &process{o: o, log: klog.FromContext(stop), errc: make(chan error, 5), loopDone: make(chan struct{})}
	if o.NodeName == "" {
		return nil, errors.New("the node name is empty: set --node-name or the NODE_NAME environment variable (the downward API's spec.nodeName)")
	}
	if o.BGP.Enabled && o.BGP.ASN == 0 {
		return nil, errors.New("--bgp-asn is required with --bgp (1 to 4294967295)")
	}
	key, accept, err := o.livenessKeyFiles().Read() // before any API call: a fast, clear failure
	if err != nil {
		return nil, fmt.Errorf("%w (--liveness-key-file, --liveness-accept-key-file)", err)
	}
	cfg, err := kubeclient.Config(o.Kubeconfig, kubeclient.Options{})
	if err != nil {
		return nil, err
	}
	readers, err := newClients(cfg, "informers'", 0)
	if err != nil {
		return nil, err
	}
	writers, err := newClients(cfg, "writers'", loop.DefaultWriteTimeout)
	if err != nil {
		return nil, err
	}
	p.kube = writers.kube

	mem, conn, err := startLiveness(stop, p.kube, o, key, accept, p.log)
	if err != nil {
		return nil, err
	}
	p.mem = mem
	// The announcer lives until the very end: it must keep answering during the drain.
	statusChanged := make(chan struct{}, 1)
	p.ann, err = l2.New(context.WithoutCancel(stop), l2.Config{
		Logger: p.log.WithName("l2"),
		OnStatusChange: func(map[netip.Addr]l2.VIPStatus) {
			select {
			case statusChanged <- struct{}{}:
			default: // a run is already due
			}
		},
	})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}

	p.runCtx, p.cancelRun = context.WithCancel(context.WithoutCancel(stop))
	// A rotated key Secret reaches the heartbeats without a restart (issue 17, item 7).
	p.wg.Go(func() {
		liveness.WatchKeys(p.runCtx, p.mem, o.livenessKeyFiles(), append([][]byte{key}, accept...), 0, p.log.WithName("liveness"))
	})
	if p.np, err = startProxy(p.runCtx, o, cfg, p.log, p.wg.Go, p.errc); err != nil {
		p.release()
		return nil, err
	}
	var rec record.EventRecorder
	p.events, rec = loop.NewEventRecorder(p.runCtx, p.kube, o.NodeName)
	// Heartbeats start once layer 2 has applied its first plan (l2mode.Config.Synced) and the
	// node proxy, if any, has programmed every Service: until then this node is not alive to its
	// peers, nor to itself, and announces nothing.
	synced := make(chan struct{})
	p.wg.Go(func() { p.heartbeats(synced) })
	startDeadNodes(p.runCtx, o, p.np, p.mem, rec, p.log, p.wg.Go)

	// One informer set, one loop, layer 2 and BGP as its protocols.
	p.set = loop.NewInformers(readers.kube, readers.api, resyncPeriod)
	lc := LoopConfig{
		Config: loop.Config{NodeName: o.NodeName, API: writers.api, Informers: p.set, Membership: p.mem,
			LivenessPort: o.LivenessPort, Classes: o.Classes, Events: rec, Logger: p.log},
		L2: &l2mode.Config{NodeName: o.NodeName, Announcer: p.ann, Triggers: statusChanged, Synced: func() { close(synced) },
			Forwards: p.np.forwards(), ForwardsChanged: p.np.forwardsChanged(), Logger: p.log},
	}
	if o.BGP.Enabled {
		// With the node proxy in this process, nothing is advertised before it forwards.
		lc.BGP = &bgpmode.Config{NodeName: o.NodeName, Namespace: o.Namespace, BGP: writers.api,
			NewSpeaker: bgpmode.GoBGP(o.BGP.ASN, p.log.WithName("bgp")), Ready: p.np.ready(), Logger: p.log}
	}
	if p.loop, p.bgp, err = NewLoop(lc); err != nil {
		p.release()
		return nil, err
	}
	p.set.Start(p.runCtx) // once every handler is on it, so that each sees the first lists
	loopCtx, cancelLoop := context.WithCancel(p.runCtx)
	p.cancelLoop = cancelLoop
	go func() {
		defer close(p.loopDone)
		if err := p.loop.Run(loopCtx); err != nil {
			p.errc <- err
		}
	}()
	if o.MetricsAddr != "" {
		if p.srv, err = serveMetrics(o.MetricsAddr, p.np.gatherer(), &p.wg, p.errc); err != nil {
			p.release()
			return nil, err
		}
	}
	return p, nil
}

// LoopConfig is the input of NewLoop: the loop's config, whose Protocols NewLoop fills in, and
// the config of each protocol the loop drives (nil: not driven).
type LoopConfig struct {
	loop.Config
	L2  *l2mode.Config
	BGP *bgpmode.Config
}

// NewLoop registers each configured protocol on cfg.Informers, layer 2 first, and builds the one
// loop that drives them: the speaker's composition, start's and the integration tests' (which
// give it fakes at the I/O boundaries). bgp is the BGP protocol, to Retire on shutdown; nil
// without cfg.BGP. The caller starts the informers once NewLoop returns, and shuts them down.
func NewLoop(cfg LoopConfig) (l *loop.Loop, bgp *bgpmode.Protocol, err error) {
	cfg.Protocols = nil
	if cfg.Writer == nil {
		cfg.Writer = loop.NewWriter(loop.DefaultWriteTimeout, cfg.Logger)
	}
	if cfg.L2 != nil {
		l2p, err := l2mode.New(cfg.Informers, *cfg.L2)
		if err != nil {
			return nil, nil, err
		}
		cfg.Protocols = append(cfg.Protocols, l2p)
	}
	if cfg.BGP != nil {
		bc := *cfg.BGP
		bc.Writes, bc.Events = cfg.Writer, cfg.Events
		if bgp, err = bgpmode.New(cfg.Informers, bc); err != nil {
			return nil, nil, err
		}
		cfg.Protocols = append(cfg.Protocols, bgp)
	}
	if l, err = loop.New(cfg.Config); err != nil {
		return nil, nil, err
	}
	return l, bgp, nil
}

// heartbeats runs liveness once synced is closed and the node proxy is ready.
func (p *process) heartbeats(synced <-chan struct{}) {
	for _, c := range []<-chan struct{}{synced, p.np.ready()} {
		select {
		case <-c:
		case <-p.runCtx.Done():
			return
		}
	}
	p.log.Info("synced; sending heartbeats")
	if err := p.mem.Run(p.runCtx); err != nil {
		p.errc <- fmt.Errorf("liveness: %w", err)
	}
}

// wait returns on SIGTERM (stop), with whether this is a restart (restartIntent), or on the first
// error of a part.
func (p *process) wait(stop context.Context) (restart bool, runErr error) {
	select {
	case <-stop.Done():
		ctx, cancel := context.WithTimeout(context.Background(), restartCheckTimeout)
		node, _ := corelisters.NewNodeLister(p.set.Nodes().GetIndexer()).Get(p.o.NodeName)
		var why string
		restart, why = restartIntent(ctx, p.kube.CoreV1(), p.o.Namespace, p.o.PodName, node)
		cancel()
		if restart {
			p.log.Info("stopping for a restart: the peers keep this node's addresses here meanwhile", "why", why)
		} else {
			p.log.Info("stopping: handing the addresses over", "why", why, "drain", p.o.Drain)
		}
	case runErr = <-p.errc:
		p.log.Error(runErr, "stopping")
	}
	return restart, runErr
}

// shutdownBudget bounds the withdrawal of BGP on shutdown, and, from then on, the last status
// writes (flushStatus), within the Pod's termination grace period (30 s by default).
const shutdownBudget = 10 * time.Second

// shutdown hands over, in this order:
//  1. BGP is withdrawn through the running loop (every route, before the sessions close; its
//     status entries queued): over BGP every node advertises, so there is nothing to hand over
//     and the peers move the traffic as soon as they see the withdrawal. Layer 2 keeps
//     following the cluster meanwhile. The last status writes start then, beside the steps
//     below, and are waited for (within shutdownBudget) before release: an API server that does
//     not answer delays the exit, never the hand-over.
//  2. The loop stops. After Leave it would see this node not alive, re-elect and withdraw every
//     address at once, before the peers have taken them over; stopped, it leaves the announcer
//     answering for the last set.
//  3. Leave (or LeaveForRestart): the peers re-elect at once, remove this node's entries (it is
//     dead to them) and send gratuitous ARP.
//  4. Drain: still answering ARP/NDP while the peers' gratuitous packets move the clients. A
//     restart has nobody to hand over to: the sooner this process exits, the sooner the next one
//     is back, while the node's kernel goes on forwarding by the node proxy's rules.
//  5. release: the rest, the announcer last.
func (p *process) shutdown(restart bool) {
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancelFlush()
	if p.bgp != nil {
		if err := p.loop.Retire(flushCtx, p.bgp); err != nil {
			p.log.Error(err, "withdrawing BGP")
		}
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		if err := p.loop.Flush(flushCtx); err != nil {
			p.log.Error(err, "the last status writes failed")
		}
	}()

	p.cancelLoop()
	<-p.loopDone

	leaveCtx, cancelLeave := context.WithTimeout(context.Background(), time.Second)
	leave := p.mem.Leave
	if restart {
		leave = p.mem.LeaveForRestart
	}
	if err := leave(leaveCtx); err != nil && !errors.Is(err, liveness.ErrNotRunning) {
		p.log.Error(err, "leaving the liveness group; peers will notice after the timeout")
	}
	cancelLeave()

	if !restart {
		time.Sleep(p.o.Drain)
	}
	<-flushed

	p.release()
}

// release stops whatever start built, in reverse: /metrics, the loop (if still running), the
// heartbeats, node proxy, dead-node exclusion and informers, the Events, then the announcer,
// which withdraws every address.
func (p *process) release() {
	if p.srv != nil {
		_ = p.srv.Close()
	}
	if p.cancelLoop != nil {
		p.cancelLoop()
		<-p.loopDone
	}
	p.cancelRun()
	if p.set != nil {
		p.set.Shutdown()
	}
	p.wg.Wait()
	if p.events != nil {
		p.events.Shutdown()
	}
	if err := p.ann.Close(); err != nil {
		p.log.Error(err, "closing the L2 announcer")
	}
}
