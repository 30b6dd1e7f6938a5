// Command frontdesk-lab runs a whole frontdesk cluster in network namespaces on this machine
// (lab/README.md): `up` and `down` (make lab, make lab-down), and `supervise`, which up starts
// itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

const usage = `usage: frontdesk-lab up|down|build|supervise [flags]
  up      make the lab (or reuse a running one) and print how to use it
  build   only build what a lab runs (the one-off builds into their caches, the lab's commands into --dir's bin/)
  down    remove the lab: processes, Pods, namespaces, mounts, cgroups, nftables tables, files`

func main() { os.Exit(mainCode()) }

func mainCode() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1], os.Args[2:])
	var exit *exitError
	switch {
	case errors.As(err, &exit):
		return exit.code
	case err != nil:
		fmt.Fprintln(os.Stderr, "frontdesk-lab:", err)
		return 1
	}
	return 0
}

type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, sub string, args []string) error {
	fs := flag.NewFlagSet("frontdesk-lab "+sub, flag.ContinueOnError)
	o := supervisor.Options{Out: os.Stdout}
	fs.StringVar(&o.Name, "name", supervisor.DefaultName, "the lab's name: prefix of its namespaces")
	fs.StringVar(&o.Dir, "dir", "", "the lab's directory (default "+supervisor.DefaultRoot+"/<name>)")
	fs.IntVar(&o.Nodes, "nodes", 3, "number of nodes (1 to 9)")
	fs.StringVar(&o.Proxy, "proxy", supervisor.ProxyFrontdesk, "node proxy: frontdesk (frontdesk-speaker --proxy=nftables) or kube-proxy (the real one, nftables mode)")
	fs.BoolVar(&o.BGP, "bgp", true, "speakers announce the IPPool \"bgp\" (198.18.100.0/24) to the router over BGP; --bgp=false: ARP only")
	fs.StringVar(&o.Repo, "repo", "", "the frontdesk checkout to build from (default: the one holding the working directory)")
	fs.StringVar(&o.K8sBin, "k8s-bin", "", "folder of the pinned Kubernetes binaries (default: hack/k8s/build.sh --print-dir)")
	fs.StringVar(&o.NodeBin, "node-bin", "", "folder of containerd, crictl and the CNI plugins (default: "+supervisor.NodeBuild+" --print-dir)")
	fs.StringVar(&o.Images, "images", "", "folder of the OCI image archives every node imports (default: <repo>/bin/images, made by make images)")
	fs.Func("helm-set", "a value for helm install of frontdesk, key=value as helm's --set (repeatable)", func(v string) error {
		o.HelmSets = append(o.HelmSets, v)
		return nil
	})
	fs.StringVar(&o.ChartNamespace, "chart-namespace", supervisor.ChartNamespace, "the namespace frontdesk is installed in")
	fs.BoolVar(&o.Prebuilt, "prebuilt", false, "do not build: <dir>/bin already holds the lab's binaries, and the images are made")
	if sub == "supervise" {
		klog.InitFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(supervisor.DefaultRoot, o.Name)
	} else if sub == "down" && !isSet(fs, "name") {
		// A lab's directory says which lab it is: down --dir=D removes the lab that lives in D.
		if st, err := supervisor.ReadState(o.Dir); err == nil && st.Options.Name != "" {
			o.Name = st.Options.Name
		}
	}
	if sub == "up" || sub == "build" || sub == "supervise" {
		if err := defaults(&o); err != nil {
			return err
		}
	}
	switch sub {
	case "up":
		return supervisor.Up(ctx, o)
	case "down":
		if err := supervisor.Down(ctx, o); err != nil {
			return err
		}
		fmt.Printf("lab %q removed\n", o.Name)
		return nil
	case "build":
		return supervisor.Build(ctx, o)
	case "supervise":
		return supervisor.Supervise(ctx, o)
	}
	fmt.Fprintln(os.Stderr, usage)
	return &exitError{code: 2}
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func defaults(o *supervisor.Options) error {
	var err error
	if o.Repo == "" {
		wd, _ := os.Getwd()
		if o.Repo, err = supervisor.FindRepo(wd); err != nil {
			return err
		}
	}
	if o.K8sBin == "" {
		if o.K8sBin, err = supervisor.K8sBinDir(o.Repo); err != nil {
			return err
		}
	}
	if o.NodeBin == "" {
		if o.NodeBin, err = supervisor.NodeBinDir(o.Repo); err != nil {
			return err
		}
	}
	if o.Images == "" {
		o.Images = supervisor.ImagesDir(o.Repo)
	}
	return nil
}
