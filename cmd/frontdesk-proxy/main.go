// Command frontdesk-proxy is frontdesk's nftables node proxy on its own: it stands in for
// kube-proxy (or runs beside it, in tables of its own). The speaker runs the same code with
// --proxy=nftables. Everything but the flags lives in package proxy; see proxy/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/internal/version"
	"github.com/frontdesk-lb/frontdesk/proxy"
)

func main() { os.Exit(run()) }

// errVersion is parseFlags' answer to --version: print it and exit.
var errVersion = errors.New("--version")

func run() int {
	o, err := parseFlags(os.Args[1:], os.Getenv, os.Hostname)
	if errors.Is(err, errVersion) {
		fmt.Println(version.Get().String("frontdesk-proxy"))
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontdesk-proxy:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(klog.NewContext(context.Background(), klog.Background()), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := start(ctx, o); err != nil {
		klog.ErrorS(err, "frontdesk-proxy stopped")
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}

type options struct {
	kubeconfig string
	cfg        proxy.Config
}

func start(ctx context.Context, o options) error {
	// The first list of a large cluster is three LISTs; watches are long-lived. The defaults (5
	// QPS) only slow the start.
	rc, err := kubeclient.Config(o.kubeconfig, kubeclient.Options{UserAgent: "frontdesk-proxy", QPS: 50, Burst: 100})
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("building the Kubernetes client: %w", err)
	}
	o.cfg.Client = kube
	return proxy.Run(ctx, o.cfg)
}

// parseFlags reads the command line; getenv supplies NODE_NAME and hostname the last fallback.
func parseFlags(args []string, getenv func(string) string, hostname func() (string, error)) (options, error) {
	var o options
	c := &o.cfg
	fs := flag.NewFlagSet("frontdesk-proxy", flag.ContinueOnError)
	klog.InitFlags(fs)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means the in-cluster config")
	fs.StringVar(&c.NodeName, "hostname-override", getenv("NODE_NAME"), "this node's Node name (default $NODE_NAME, else the host name)")
	fs.Func("nodeport-addresses", "comma-separated CIDRs: NodePorts answer on the node's addresses inside them (default: every address but loopback)",
		prefixList(&c.NodePortAddresses))
	fs.Func("cluster-cidr", "comma-separated Pod CIDRs: ClusterIP traffic from outside them is masqueraded", prefixList(&c.ClusterCIDRs))
	fs.Func("ip-families", "comma-separated IP families to program: IPv4, IPv6 (default both)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case "ipv4":
				c.IPFamilies = append(c.IPFamilies, v1.IPv4Protocol)
			case "ipv6":
				c.IPFamilies = append(c.IPFamilies, v1.IPv6Protocol)
			default:
				return fmt.Errorf("%q is not an IP family: want IPv4 or IPv6", f)
			}
		}
		return nil
	})
	fs.StringVar(&c.TableName, "table-name", "frontdesk", "name of frontdesk's nftables table in the ip and ip6 families")
	fs.DurationVar(&c.MinSyncPeriod, "min-sync-period", time.Second, "least time between two syncs; changes meanwhile are coalesced")
	fs.DurationVar(&c.SyncPeriod, "sync-period", time.Hour, "full resync period")
	fs.IntVar(&c.ColdStartChunk, "cold-start-chunk", 1000, "Services per transaction in a full sync")
	// Ports beside kube-proxy's 10249 and 10256, so that both can run on one node.
	fs.StringVar(&c.MetricsBindAddress, "metrics-bind-address", "127.0.0.1:10269", "address serving /metrics; empty disables")
	fs.StringVar(&c.HealthzBindAddress, "healthz-bind-address", "0.0.0.0:10266", "address serving /healthz; empty disables")
	printVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *printVersion {
		return o, errVersion
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	if c.NodeName == "" {
		h, err := hostname()
		if err != nil || h == "" {
			return o, errors.New("no node name: set --hostname-override or NODE_NAME")
		}
		c.NodeName = strings.ToLower(h)
	}
	if c.MinSyncPeriod <= 0 || c.SyncPeriod <= 0 || c.ColdStartChunk <= 0 {
		return o, errors.New("--min-sync-period, --sync-period and --cold-start-chunk must be positive")
	}
	return o, nil
}

func prefixList(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR such as 192.168.0.0/24 or fd00::/64", s)
			}
			*dst = append(*dst, p.Masked())
		}
		return nil
	}
}
