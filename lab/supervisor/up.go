package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// upTimeout bounds the wait for the supervisor to report ready: the control plane takes 5–20 s
// on two busy cores, the nodes a few more.
const upTimeout = 5 * time.Minute

// Up makes the lab and leaves it running in the background. A lab of the same name that is
// running and ready is reused (its summary printed again); anything else of that name (a failed
// or half-removed lab) is removed first and the lab made anew.
func Up(ctx context.Context, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root: it makes network namespaces, links and routes (run make lab as root)")
	}
	if st, err := ReadState(o.Dir); err == nil && st.Phase == PhaseReady && alive(st.Supervisor) {
		_, _ = fmt.Fprintf(o.Out, "lab %q is already running (supervisor pid %d): reusing it\n", o.Name, st.Supervisor)
		printUsage(o.Out, st.Options)
		return nil
	}
	if len(topology.ListNamespaces(o.Name)) > 0 || exists(o.statePath()) {
		_, _ = fmt.Fprintf(o.Out, "removing what is left of lab %q\n", o.Name)
		if err := down(ctx, o, true); err != nil {
			return err
		}
	}
	for _, d := range []string{"logs", "nodes"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := Build(ctx, o); err != nil {
		return err
	}
	plan, _ := o.Plan()
	step(o.Out, "network: switch, router, control plane, %d nodes, LAN client, client behind the router", len(plan.Nodes))
	if err := topology.Create(ctx, plan); err != nil {
		return err
	}
	if err := writeKubectl(o, plan); err != nil {
		return err
	}
	if err := spawn(o, plan); err != nil {
		return err
	}
	if err := follow(ctx, o); err != nil {
		return fmt.Errorf("%w\nlogs: %s; remove the lab with: make lab-down", err, filepath.Join(o.Dir, "logs"))
	}
	printUsage(o.Out, o)
	return nil
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func step(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, "lab: "+format+"\n", args...)
}

// Build installs missing Debian packages and builds what a lab runs, each one-off build into its
// cache (the Kubernetes and node binaries, the images unless those of this version are there) and
// the lab's own commands, helm and gobgp into o.Dir/bin; with o.Prebuilt only the cached ones.
// Up calls it, as do the lab's tests and make test (frontdesk-lab build, ahead of the netns tier).
func Build(ctx context.Context, o Options) error {
	if err := os.MkdirAll(filepath.Join(o.Dir, "bin"), 0o755); err != nil {
		return err
	}
	step(o.Out, "Debian packages (hack/install-deps.sh)")
	if err := run(ctx, o, "bash", filepath.Join(o.Repo, "hack/install-deps.sh")); err != nil {
		return err
	}
	step(o.Out, "Kubernetes binaries (hack/k8s/build.sh; the first build takes about 10 minutes)")
	if err := run(ctx, o, "bash", filepath.Join(o.Repo, "hack/k8s/build.sh")); err != nil {
		return err
	}
	step(o.Out, "node binaries: containerd, crictl, CNI plugins, CoreDNS, the registry and crane (%s; a few minutes the first time)", NodeBuild)
	if err := run(ctx, o, "bash", filepath.Join(o.Repo, NodeBuild)); err != nil {
		return err
	}
	if o.Prebuilt {
		return nil
	}
	if err := PrepareImages(ctx, o); err != nil {
		return err
	}
	step(o.Out, "building %s into %s", strings.Join(Commands, ", "), filepath.Join(o.Dir, "bin"))
	args := []string{"build", "-o", filepath.Join(o.Dir, "bin") + "/"}
	for _, c := range Commands {
		args = append(args, "./cmd/"+c)
	}
	if err := run(ctx, o, "go", args...); err != nil {
		return err
	}
	step(o.Out, "helm (the CLI pinned in charts/frontdesk/test, hack/helm.sh; about a minute the first time)")
	if err := LinkHelm(ctx, o.Repo, filepath.Join(o.Dir, "bin"), o.Out); err != nil {
		return err
	}
	step(o.Out, "building gobgp, GoBGP's CLI the router's route syncer reads gobgpd with (hack/tools; about a minute the first time)")
	return BuildRouterTools(ctx, o.Repo, filepath.Join(o.Dir, "bin"), o.Out)
}

// Commands are the lab's own commands, built from cmd/ into the lab's bin/, and the kubectl
// plugin, which the lab's kubectl finds there. frontdesk itself and the Pods' programs run from
// the images.
var Commands = []string{"frontdesk-lab", "kubectl-frontdesk"}

// LinkHelm builds the pinned helm if it is not cached (hack/helm.sh) and links it into dir, the
// lab's bin/, where the supervisor runs it.
func LinkHelm(ctx context.Context, repo, dir string, progress io.Writer) error {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "hack", "helm.sh"), "--print")
	cmd.Stderr = progress
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("hack/helm.sh: %w", err)
	}
	link := filepath.Join(dir, "helm")
	_ = os.Remove(link)
	return os.Symlink(strings.TrimSpace(string(out)), link)
}

// PrepareImages makes the images the nodes import (in o.Images, from o.Repo, progress to o.Out)
// unless those of this version are there: make images rebuilds every image (half a minute or
// more), so a warm make lab stays quick. A dirty tree keeps its version ("-dirty"): run make
// images after changing code. Tests that start labs with Prebuilt call it themselves.
func PrepareImages(ctx context.Context, o Options) error {
	out, err := exec.CommandContext(ctx, "make", "-s", "--no-print-directory", "-C", o.Repo, "version").Output()
	if err != nil {
		return fmt.Errorf("make version: %w", err)
	}
	version := strings.TrimSpace(string(out))
	if have := imagesOfVersion(o.Images, version); have > 0 {
		step(o.Out, "images: the %d OCI archives of %s in %s (make images rebuilds them)", have, version, o.Images)
		return nil
	}
	step(o.Out, "images: OCI archives of %s into %s (make images)", version, o.Images)
	return run(ctx, o, "make", "--no-print-directory", "images")
}

// imagesOfVersion counts the archives in dir when frontdesk's speaker image among them is of
// version, and returns 0 otherwise.
func imagesOfVersion(dir, version string) int {
	archives, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, a := range archives {
		names, _ := kubenode.ArchiveImageNames(a)
		for _, n := range names {
			if strings.Contains(n, speakerRepo+":") && strings.HasSuffix(n, ":"+version) {
				return len(archives)
			}
		}
	}
	return 0
}

// BuildRouterTools builds gobgp, GoBGP's CLI pinned in hack/tools/go.mod (the project's tool
// module, so the product's go.mod does not carry GoBGP's dependencies), into dir: the router's syncer reads
// gobgpd's RIB with it. gobgpd itself runs from the gobgp image (make images).
func BuildRouterTools(ctx context.Context, repo, dir string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "github.com/osrg/gobgp/v4/cmd/gobgp")
	cmd.Dir = filepath.Join(repo, "hack", "tools")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building gobgp in hack/tools: %w", err)
	}
	return nil
}

func run(ctx context.Context, o Options, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = o.Repo
	cmd.Stdout, cmd.Stderr = o.Out, o.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// writeKubectl writes the kubectl wrapper: kubectl run inside the control-plane namespace, where
// the API server's address is reachable, with the admin kubeconfig. The kubeconfig is given by
// $KUBECONFIG, not --kubeconfig, and the lab's bin/ is on $PATH: kubectl finds its plugins only
// when no flag comes before their name, so `kubectl frontdesk status` works.
func writeKubectl(o Options, plan topology.Plan) error {
	script := fmt.Sprintf("#!/bin/sh\n# kubectl for lab %q: runs inside its control-plane namespace.\n"+
		"export KUBECONFIG=%s\nexport PATH=%s:$PATH\nexec ip netns exec %s %s \"$@\"\n",
		o.Name, o.Kubeconfig(), filepath.Join(o.Dir, "bin"), plan.NS(topology.RoleControlPlane), o.k8s("kubectl"))
	return os.WriteFile(o.Kubectl(), []byte(script), 0o755)
}

// spawn starts the supervisor inside the control-plane namespace, detached (its own session),
// so that it outlives this command.
func spawn(o Options, plan topology.Plan) error {
	logf, err := os.OpenFile(o.logPath("supervisor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	// nsenter, not `ip netns exec`: the latter gives its command a mount namespace of its own
	// with a fresh /sys, which hides the cgroup mounts from the kubelets and runc, and keeps the
	// mounts the kubelets and containerds make (volumes, Pod network namespaces) from the host's.
	argv := netns.Enter(plan.NS(topology.RoleControlPlane), o.bin("frontdesk-lab"), "supervise",
		"--name="+o.Name, "--nodes="+fmt.Sprint(o.Nodes), "--dir="+o.Dir, "--k8s-bin="+o.K8sBin,
		"--node-bin="+o.NodeBin, "--images="+o.Images, "--proxy="+o.Proxy, "--repo="+o.Repo, fmt.Sprintf("--bgp=%t", o.BGP))
	for _, v := range o.HelmSets {
		argv = append(argv, "--helm-set="+v)
	}
	if o.ChartNamespace != "" {
		argv = append(argv, "--chart-namespace="+o.ChartNamespace)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if o.DieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the supervisor: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "supervisor.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	if o.DieWithParent {
		// Reaped by the parent when it exits, so that it does not linger as a zombie meanwhile.
		go func() { _ = cmd.Wait() }()
		return nil
	}
	return cmd.Process.Release()
}

// follow prints the supervisor's progress lines until it reports ready or failed.
func follow(ctx context.Context, o Options) error {
	deadline := time.Now().Add(upTimeout)
	var off int64
	for {
		off = printFrom(o.Out, o.progressPath(), off)
		gone := !alive(supervisorPid(o.Dir))
		st, err := ReadState(o.Dir)
		if err == nil {
			switch st.Phase {
			case PhaseReady:
				printFrom(o.Out, o.progressPath(), off)
				return nil
			case PhaseFailed:
				printFrom(o.Out, o.progressPath(), off)
				return errors.New("the lab failed to start: " + st.Error)
			}
		}
		if gone { // and said nothing of why in its state
			return errors.New("the lab's supervisor exited; see " + o.logPath("supervisor"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the lab was not ready after %s", upTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printFrom copies the lines of path from offset off to w, prefixed, and returns the new offset.
func printFrom(w io.Writer, path string, off int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return off
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return off // a partial line is printed once it is complete
		}
		off += int64(len(line))
		_, _ = fmt.Fprint(w, "lab: ", line)
	}
}

func printUsage(w io.Writer, o Options) {
	plan, _ := o.Plan()
	cp := plan.NS(topology.RoleControlPlane)
	announce := fmt.Sprintf("IPPool \"lan\" (%s) over ARP", plan.L2Pool)
	if o.BGP {
		announce += fmt.Sprintf(",\n  and IPPool %q (%s) over BGP to the router, AS %d (a Service asks for it with the annotation frontdesk.dev/ip-pool: %s)",
			BGPPoolName, plan.BGPPool, plan.RouterASN, BGPPoolName)
	}
	_, _ = fmt.Fprintf(w, `
frontdesk lab %q is running: %d nodes, node proxy %s, speakers announcing %s.
  kubeconfig   %s  (API server on %s, reachable only inside the lab's namespaces)
  kubectl      %s get nodes,pods -o wide     (kubectl inside %s)
  LAN client   ip netns exec %s sh      (%s, on the nodes' LAN: reaches LoadBalancer IPs by ARP)
  client       ip netns exec %s sh         (%s, behind the router %s)
  frontdesk    %s frontdesk status -A        (the kubectl frontdesk plugin: addresses, announcers, readiness; also: pools)
  in a Pod     %s exec -it <pod> -- sh     (the real kubelet's exec; crictl: %s)
  router       ip netns exec %s %s neighbor     (gobgpd in a container: %s tasks ls)
  logs         %s
  remove       make lab-down
The Services guide's example: %s apply -f examples/hello-deploy.yaml -f examples/hello-svc.yaml
`, o.Name, len(plan.Nodes), o.Proxy, announce,
		o.Kubeconfig(), plan.ControlPlane,
		o.Kubectl(), cp,
		plan.NS(topology.RoleLANClient), plan.LANClient,
		plan.NS(topology.RoleClient), plan.Client, plan.RouterExternal,
		o.Kubectl(),
		o.Kubectl(), o.crictl("node1"),
		plan.NS(topology.RoleRouter), o.bin("gobgp"), o.routerCtr(),
		filepath.Join(o.Dir, "logs"),
		o.Kubectl())
}
