// Command frontdesk-speaker runs on every node and announces the LoadBalancer addresses: over
// layer 2 those this node is elected for, and with --bgp over BGP those it may serve. The loop
// lives in speaker/agent; see docs/design/speaker.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/version"
	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/agent"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

func main() { os.Exit(run()) }

// errVersion is parseFlags' answer to --version: print it and exit.
var errVersion = errors.New("--version")

func run() int {
	o, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, errVersion) {
		fmt.Println(version.Get().String("frontdesk-speaker"))
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontdesk-speaker:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(klog.NewContext(context.Background(), klog.Background()), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := agent.Main(ctx, o); err != nil {
		klog.ErrorS(err, "frontdesk-speaker stopped")
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}

// parseFlags reads the command line; getenv supplies NODE_NAME.
func parseFlags(args []string, getenv func(string) string) (agent.Options, error) {
	o := agent.Options{LivenessPort: liveness.DefaultPort}
	var classes string
	fs := flag.NewFlagSet("frontdesk-speaker", flag.ContinueOnError)
	klog.InitFlags(fs)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty means the in-cluster config")
	fs.StringVar(&o.NodeName, "node-name", getenv("NODE_NAME"), "this node's Node name (default $NODE_NAME)")
	fs.StringVar(&o.PodName, "pod-name", getenv("POD_NAME"),
		"this speaker's Pod name (default $POD_NAME): on SIGTERM, a Pod being deleted on a node that stays up is a restart, not a leave")
	fs.Func("liveness-port", "UDP port of the speakers' heartbeats, on every node (default 7473)", func(v string) error {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil || p == 0 {
			return fmt.Errorf("%q is not a port: want 1 to 65535", v)
		}
		o.LivenessPort = uint16(p)
		return nil
	})
	fs.StringVar(&o.LivenessKeyFile, "liveness-key-file", "", "file holding the shared heartbeat key, at least 16 bytes (required); re-read while running")
	fs.StringVar(&o.LivenessAcceptKeyFile, "liveness-accept-key-file", "",
		"file holding a second heartbeat key, accepted but never used to sign: the next or the previous key during a rotation; a missing or empty file: none; re-read while running")
	fs.Func("liveness-bind-address", "address of the heartbeat socket (default: the node's first InternalIP, read from its Node, where the peers send)", func(v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not an IP address", v)
		}
		o.LivenessBindAddress = a.Unmap()
		return nil
	})
	fs.BoolVar(&o.LivenessQuorum, "liveness-quorum", false,
		"announce nothing while this speaker sees at most half of the speakers alive: the minority side of a partition, or a node whose heartbeats are flooded, falls silent instead of answering beside the majority; but losing half of the nodes at once silences every address (see speaker/liveness/README.md)")
	fs.StringVar(&o.BootIDFile, "boot-id-file", liveness.KernelBootIDFile,
		"file holding this node's boot ID (a UUID), sent in the heartbeats so that peers tell a speaker restart from a node reboot; override only where nodes share a kernel (a lab); empty: unknown")
	fs.StringVar(&classes, "load-balancer-class", announce.DefaultClass,
		"comma-separated spec.loadBalancerClass values served besides the unset class; empty serves only the unset class")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", "127.0.0.1:7472", "address serving /metrics and /healthz; empty disables")
	fs.DurationVar(&o.Drain, "drain", 300*time.Millisecond, "how long addresses stay answered after leaving, on shutdown, while peers take over")
	fs.DurationVar(&o.RestartGrace, "restart-grace", 30*time.Second,
		"how long a peer speaker restarting on a node that stays up (a rollout) keeps its addresses before the others take them over; 0: at once")
	fs.BoolVar(&o.BGP.Enabled, "bgp", false, "advertise addresses over BGP too, to the BGPPeers (see docs/design/speaker.md)")
	fs.Func("bgp-asn", "the speakers' global ASN, with --bgp (each BGPPeer's localASN is used on its session)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not an ASN: want 1 to 4294967295", v)
		}
		o.BGP.ASN = uint32(n)
		return nil
	})
	fs.StringVar(&o.Namespace, "namespace", getenv("POD_NAMESPACE"), "the speakers' namespace: their Pods', holding BGP password Secrets (default $POD_NAMESPACE)")
	fs.Func("proxy", "run frontdesk's node proxy in the speaker: nftables; empty (the default) leaves forwarding to kube-proxy or another proxy", func(v string) error {
		if !slices.Contains(agent.ProxyModes, v) {
			return fmt.Errorf("%q: want nftables, or empty for no node proxy", v)
		}
		o.Proxy.Mode = v
		return nil
	})
	proxy.AddFlags(fs, "proxy-", "with --proxy: ", &o.Proxy.Config)
	fs.BoolVar(&o.Proxy.ExcludeDeadNodes, "proxy-exclude-dead-nodes", true, "with --proxy: send no new connections to endpoints on nodes whose speaker a majority of speakers reports dead (within about a second, instead of Kubernetes' ~50 s); see docs/design/dead-nodes.md")
	printVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *printVersion {
		return o, errVersion
	}
	if o.LivenessKeyFile == "" {
		return o, errors.New("--liveness-key-file is required (the shared heartbeat key, at least 16 bytes)")
	}
	if err := proxy.CheckFlags("proxy-", o.Proxy.Config); o.Proxy.Mode != "" && err != nil {
		return o, err
	}
	if o.BGP.Enabled && (o.BGP.ASN == 0 || o.Namespace == "") {
		return o, errors.New("--bgp needs --bgp-asn and --namespace (or $POD_NAMESPACE)")
	}
	if o.RestartGrace < 0 {
		return o, errors.New("--restart-grace is negative: want a duration, or 0 for none")
	}
	o.Classes = []string{}
	if classes != "" {
		o.Classes = strings.Split(classes, ",")
	}
	return o, nil
}
