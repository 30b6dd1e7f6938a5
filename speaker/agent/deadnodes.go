package agent

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/deadnodes"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Event reasons on a Node whose endpoints frontdesk's node proxies stop or start using again.
const (
	ReasonDeadNodeExcluded = "DeadNodeExcluded"
	ReasonDeadNodeReturned = "DeadNodeReturned"
	// ReasonRebootedNodeExcluded: the node rebooted without having been excluded (its speaker
	// left on shutdown, or no majority agreed on its death); its endpoints not ready since the
	// reboot take no new connections until they are.
	ReasonRebootedNodeExcluded = "RebootedNodeExcluded"
)

// nodeBootID reads this node's boot ID for the heartbeats. Without one (an unreadable or
// malformed file) the speaker still runs: its peers then treat its restarts as possible reboots,
// as before boot IDs, which costs its endpoints up to RestartHold after a restart, never a
// wrong exclusion.
func nodeBootID(file string, log klog.Logger) liveness.BootID {
	if file == "" {
		return liveness.BootID{}
	}
	return bootIDFrom(liveness.BootIDFile(file), log)
}

func bootIDFrom(src liveness.BootIDSource, log klog.Logger) liveness.BootID {
	b, err := src.BootID()
	if err != nil {
		log.Error(err, "no boot ID in the heartbeats: peers cannot tell this speaker restarting from its node rebooting (--boot-id-file)")
		return liveness.BootID{}
	}
	log.Info("boot ID", "bootID", b.String())
	return b
}

// membershipView is what the exclusion needs of liveness (*liveness.Membership).
type membershipView interface {
	View() liveness.View
	Subscribe() <-chan struct{}
}

// excludedNodesSetter is the node proxy's input (*proxy.Proxy).
type excludedNodesSetter interface {
	SetExcludedNodes(map[string]proxy.ExcludedNode)
}

// runDeadNodes feeds the node proxy the nodes that liveness, with a majority of speakers
// agreeing, reports dead (speaker/deadnodes), on every membership change and whenever the
// tracker asks to be woken (the end of a node's ReturnAfter or RestartHold), until ctx ends.
// Each start and stop is logged, and recorded as an Event on the Node by one speaker only.
func runDeadNodes(ctx context.Context, mem membershipView, p excludedNodesSetter, rec record.EventRecorder, cfg deadnodes.Config, log klog.Logger) {
	changes := mem.Subscribe()
	tr := deadnodes.New(cfg)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		v := mem.View()
		set, trans, next := tr.Update(v, time.Now())
		p.SetExcludedNodes(set)
		for _, t := range trans {
			log.Info("dead-node exclusion", "node", t.Node, "excluded", t.Excluded, "reason", t.Reason,
				"agreeing", t.Agreeing, "speakers", t.Speakers)
			if rec != nil && eventEmitter(v, t.Node) == v.Self {
				recordTransition(rec, t)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(0, time.Until(next))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-timer.C:
		}
	}
}

// eventEmitter picks the one speaker that records the Events about node: the first by name of
// the speakers alive in this view, the node itself excepted. Every speaker that excludes a node
// decides alone, but an Event from each would be N−1 Events per death in an N-node cluster (all
// distinct sources, so the API server cannot aggregate them); the others' views agree on who is
// first except for a heartbeat or so around a change, when an Event may be doubled or missed.
func eventEmitter(v liveness.View, node string) string {
	var alive []string
	if v.SelfAlive {
		alive = append(alive, v.Self)
	}
	for name, p := range v.Peers {
		if name != node && p.Alive {
			alive = append(alive, name)
		}
	}
	if len(alive) == 0 {
		return ""
	}
	return slices.Min(alive)
}

func recordTransition(rec record.EventRecorder, t deadnodes.Transition) {
	// Node events are namespaced "default" with the Node's name as UID, as the kubelet's are.
	ref := &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: t.Node, UID: types.UID(t.Node)}
	if t.Excluded && t.Reason == deadnodes.Rebooted {
		rec.Eventf(ref, corev1.EventTypeNormal, ReasonRebootedNodeExcluded,
			"Node proxies use this node's endpoints only as Kubernetes reports them ready again: its speaker is back on a new boot, so the Pods it ran before are gone (frontdesk --proxy=nftables)")
		return
	}
	if t.Excluded {
		rec.Eventf(ref, corev1.EventTypeWarning, ReasonDeadNodeExcluded,
			"Node proxies stopped sending new connections to this node's endpoints: its speaker is dead to %d of %d speakers (frontdesk --proxy=nftables)",
			t.Agreeing, t.Speakers)
		return
	}
	rec.Eventf(ref, corev1.EventTypeNormal, ReasonDeadNodeReturned, "Node proxies use this node's endpoints again: %s", map[deadnodes.Reason]string{
		deadnodes.Returned:         "its speaker is alive again",
		deadnodes.SpeakerRestarted: "its speaker restarted on the same boot: the node and its Pods ran all along",
		deadnodes.Rebooted:         "it rebooted; its endpoints came back as Kubernetes reported them ready, and the rest now",
		deadnodes.Restarted:        "its speaker restarted (boot unknown); its endpoints came back as Kubernetes reported them ready, and the rest now",
		deadnodes.NoAgreement:      "no majority of speakers reports it dead any more (a lost quorum, or its speaker left)",
	}[t.Reason])
}

// startDeadNodes runs the exclusion when the node proxy runs in this process and it is enabled;
// rec is the speaker's one Event recorder.
func startDeadNodes(ctx context.Context, o Options, np *nodeProxy, mem membershipView, rec record.EventRecorder, log klog.Logger, run func(func())) {
	if np == nil || !o.Proxy.ExcludeDeadNodes {
		return
	}
	log = log.WithName("deadnodes")
	log.Info("excluding the endpoints of nodes a majority of speakers report dead")
	run(func() { runDeadNodes(ctx, mem, np.p, rec, deadnodes.Config{}, log) })
}
