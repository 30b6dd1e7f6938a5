// Command frontdesk-proxy is frontdesk's nftables node proxy on its own: it stands in for
// kube-proxy, on kube-proxy's ports (or runs beside it, in tables of its own, given other ports). The speaker runs the same code with
// --proxy=nftables. Everything but the flags lives in package proxy; see proxy/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
	proxy.AddFlags(fs, "", "", c)
	fs.StringVar(&c.MetricsBindAddress, "metrics-bind-address", proxy.DefaultMetricsBindAddress, "address serving /metrics (kube-proxy's port); empty disables")
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
	return o, proxy.CheckFlags("", *c)
}
