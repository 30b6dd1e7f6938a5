package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// startLiveness opens the heartbeat socket on the node's own address and builds the
// Membership, which owns the socket once it runs, with the keys start read from the key files.
func startLiveness(stop context.Context, kube kubernetes.Interface, o Options, key []byte, accept [][]byte, log klog.Logger) (m *liveness.Membership, conn *net.UDPConn, err error) {
	addr := o.LivenessBindAddress
	if !addr.IsValid() {
		if addr, err = nodeInternalIP(stop, kube, o.NodeName, log); err != nil {
			return nil, nil, err
		}
	}
	conn, err = liveness.Listen(netip.AddrPortFrom(addr, o.LivenessPort))
	if err != nil {
		return nil, nil, fmt.Errorf("%w (the node's first InternalIP, where its peers send heartbeats; --liveness-bind-address overrides it)", err)
	}
	m, err = liveness.New(liveness.Config{
		NodeName: o.NodeName, Key: key, AcceptKeys: accept, Conn: conn, BootID: nodeBootID(o.BootIDFile, log),
		RestartGrace: o.RestartGrace, RequireQuorum: o.LivenessQuorum, Logger: log.WithName("liveness"),
	})
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	liveness.PublishKeys(key, accept)
	log.Info("Heartbeats on the node's address", "address", conn.LocalAddr().String(), "quorum", o.LivenessQuorum,
		"key", liveness.KeyID(key), "accept", len(accept))
	return m, conn, nil
}

func (o Options) livenessKeyFiles() liveness.KeyFiles {
	return liveness.KeyFiles{Key: o.LivenessKeyFile, Accept: o.LivenessAcceptKeyFile}
}

// nodeLookupTimeout bounds each read of the speaker's own Node at start; reads are retried until
// one succeeds or the speaker is stopped.
const nodeLookupTimeout = 5 * time.Second

// nodeInternalIP reads this node's first InternalIP: the address its peers send heartbeats to
// (loop.FirstInternalIP, the choice of its peers). Until the API server answers, the
// speaker cannot list anything either, so waiting here delays nothing it could do.
func nodeInternalIP(stop context.Context, kube kubernetes.Interface, name string, log klog.Logger) (netip.Addr, error) {
	var addr netip.Addr
	err := wait.PollUntilContextCancel(stop, time.Second, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, nodeLookupTimeout)
		defer cancel()
		// A list of the one Node, not a get: the chart lets the speaker list and watch Nodes (its
		// informer), and get would be one more verb for the same data.
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			log.Info("Reading this node's address for the heartbeat socket; retrying", "node", name, "err", err)
			return false, nil
		}
		i := slices.IndexFunc(nodes.Items, func(n corev1.Node) bool { return n.Name == name })
		if i < 0 {
			log.Info("This node is not registered yet; retrying: the heartbeat socket binds to its InternalIP", "node", name)
			return false, nil
		}
		var ok bool
		if addr, ok = loop.FirstInternalIP(&nodes.Items[i]); !ok {
			log.Info("This node has no InternalIP yet; retrying: the heartbeat socket binds to it", "node", name)
		}
		return ok, nil
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("reading the InternalIP of Node %s for the heartbeat socket: %w", name, err)
	}
	return addr, nil
}
