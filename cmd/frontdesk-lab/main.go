// Command frontdesk-lab runs a whole frontdesk cluster in network namespaces on this machine
// (lab/README.md): `up` and `down` (make lab, make lab-down), `exec` (a command in a Pod's
// network namespace), and `supervise` and `agent`, which up starts itself.
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

const usage = `usage: frontdesk-lab up|down|exec|supervise|agent [flags]
  up      make the lab (or reuse a running one) and print how to use it
  down    remove the lab: processes, namespaces, nftables tables, files
  exec    [-n namespace] POD -- COMMAND...: run COMMAND in the Pod's network namespace`

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
	fs.StringVar(&o.K8sBin, "k8s-bin", "", "folder of the pinned Kubernetes binaries (default: test/tools/build.sh --print-dir)")
	fs.BoolVar(&o.Prebuilt, "prebuilt", false, "do not build: <dir>/bin already holds the lab's binaries")
	node := fs.String("node", "", "agent: the node to run")
	podNS := fs.String("n", "default", "exec: the Pod's namespace")
	if sub == "agent" || sub == "supervise" {
		klog.InitFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(supervisor.DefaultRoot, o.Name)
	}
	if sub == "up" || sub == "supervise" {
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
	case "supervise":
		return supervisor.Supervise(ctx, o)
	case "agent":
		return runAgent(ctx, o, *node)
	case "exec":
		return execInPod(ctx, o, *podNS, fs.Args())
	}
	fmt.Fprintln(os.Stderr, usage)
	return &exitError{code: 2}
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
		o.K8sBin, err = supervisor.K8sBinDir(o.Repo)
	}
	return err
}

func execInPod(ctx context.Context, o supervisor.Options, namespace string, args []string) error {
	if len(args) > 1 && args[1] == "--" {
		args = append(args[:1], args[2:]...)
	}
	if len(args) < 2 {
		return errors.New("exec: want POD -- COMMAND [ARGS...]")
	}
	st, err := supervisor.ReadState(o.Dir)
	if err != nil {
		return fmt.Errorf("no lab in %s: %w", o.Dir, err)
	}
	cmd, err := supervisor.PodCommand(ctx, st.Options, namespace, args[0], args[1:])
	if err != nil {
		return err
	}
	err = cmd.Run()
	if ee := (interface{ ExitCode() int })(nil); errors.As(err, &ee) {
		return &exitError{code: ee.ExitCode()}
	}
	return err
}
