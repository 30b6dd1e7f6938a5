package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// Run is one run of tests of the selection against a lab started for it: the lab comes up with
// the given node proxy, Kubernetes' e2e suite runs from the lab's client namespace, and the lab
// is removed, even on failure. The client (203.0.113.10, behind the router) is an external client
// as the tests assume one: outside the nodes' network (the externalTrafficPolicy Local tests
// check that the source address a Pod sees is not in the nodes' /16, which from the control
// plane's LAN address it is), reaching the API server, the nodes and the load balancers'
// addresses through the router, as the rest of the world does.
type Run struct {
	Proxy string   // supervisor.ProxyFrontdesk or supervisor.ProxyKubeProxy
	Tests []string // full names of the tests to run, from tests.txt
	Nodes int
	// Procs is how many ginkgo processes run tests side by side; the [Serial] tests run after
	// the others, alone (ginkgo's Serial decorator), and the [Disruptive] ones in a ginkgo run
	// of their own after that, since they restart what other tests rely on.
	Procs   int
	LabName string
	Repo    string
	Lab     string // the frontdesk-lab binary
	K8sBin  string // e2e.test, ginkgo and kubectl (hack/k8s/build.sh --e2e and the default set)
	Images  []string
	// Out is this run's folder: images/ (the archives the lab imports), lab.log, the ginkgo
	// reports (report-*.json, junit-*.xml), e2e/ (the framework's files) and run.json.
	Out      string
	KeepLab  bool      // leave the lab running after the tests, for a look at it
	HelmSets []string  // helm install --set values of the lab (LabHelmSets)
	Progress io.Writer // one line per step
}

// LabHelmSets are the chart values make conformance's labs are installed with, beyond the lab's
// own. frontdesk programs no Service externalIP outside proxy.allowedExternalIPCIDRs, empty by
// default (CVE-2020-8554; kube-proxy clusters get the same from the DenyServiceExternalIPs
// admission plugin, which the lab's API server does not run): the one address the externalIP
// test uses is allowed, as an operator who lets Services use externalIPs would allow theirs.
var LabHelmSets = []string{"proxy.allowedExternalIPCIDRs={203.0.113.250/32}"}

// ProxyLabArgs are the frontdesk-lab up flags of a lab whose node proxy is proxy. frontdesk's
// node proxy runs in the speaker; "should work after restarting kube-proxy" restarts the Pods
// labelled k8s-app=kube-proxy in kube-system and checks Services still work, and skips itself
// when there are none. So frontdesk's labs install the chart in kube-system and label the speaker
// Pods so: the test then restarts frontdesk's node proxy, the one thing it is about. The
// kube-proxy labs keep the chart in its own namespace, their kube-proxy DaemonSet holding the
// label.
func ProxyLabArgs(proxy string) []string {
	if proxy != supervisor.ProxyFrontdesk {
		return nil
	}
	return []string{"--chart-namespace=" + metav1.NamespaceSystem, "--helm-set=speaker.podLabels.k8s-app=kube-proxy"}
}

// RunInfo is what run.json records of a run, beside ginkgo's reports.
type RunInfo struct {
	Proxy     string
	Commit    string // git describe of the checkout the lab and the tests ran from
	Nodes     int
	Procs     int
	Tests     int
	Started   time.Time
	LabUp     time.Duration // frontdesk-lab up, images imported and the chart installed
	E2E       time.Duration // the ginkgo runs
	Reports   []string      // ginkgo JSON reports, relative to the run's folder
	LabFailed string        `json:",omitempty"` // why the lab did not come up, when it did not
}

// Do runs the tests and returns what run.json holds. An error means no usable report; failing
// tests are not an error (the reports hold them).
func (r Run) Do(ctx context.Context) (RunInfo, error) {
	info := RunInfo{Proxy: r.Proxy, Nodes: r.Nodes, Procs: r.Procs, Tests: len(r.Tests), Started: time.Now().UTC(),
		Commit: describe(r.Repo)}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return info, err
	}
	images := filepath.Join(r.Out, "images")
	if err := LinkImages(images, r.Images); err != nil {
		return info, err
	}
	plan, err := topology.New(r.LabName, r.Nodes)
	if err != nil {
		return info, err
	}
	labDir := filepath.Join(supervisor.DefaultRoot, r.LabName)
	o := supervisor.Options{Name: r.LabName, Dir: labDir}

	r.step("lab %s: %d nodes, node proxy %s (log: %s)", r.LabName, r.Nodes, r.Proxy, filepath.Join(r.Out, "lab.log"))
	// A lab of that name left by an interrupted run would be reused by up as it is.
	_ = r.lab(context.WithoutCancel(ctx), "down", "--name="+r.LabName)
	if !r.KeepLab {
		defer func() {
			r.step("lab %s: down", r.LabName)
			if err := r.lab(context.WithoutCancel(ctx), "down", "--name="+r.LabName); err != nil {
				r.step("lab %s: down: %v", r.LabName, err)
			}
		}()
	}
	began := time.Now()
	up := []string{"up", "--name=" + r.LabName, "--proxy=" + r.Proxy, fmt.Sprintf("--nodes=%d", r.Nodes),
		"--images=" + images, "--repo=" + r.Repo}
	for _, v := range r.HelmSets {
		up = append(up, "--helm-set="+v)
	}
	up = append(up, ProxyLabArgs(r.Proxy)...)
	err = r.lab(ctx, up...)
	info.LabUp = time.Since(began)
	if err != nil {
		info.LabFailed = err.Error()
		return info, r.writeInfo(info, fmt.Errorf("lab up: %w (see %s)", err, filepath.Join(r.Out, "lab.log")))
	}
	r.step("lab %s: up in %s", r.LabName, info.LabUp.Round(time.Second))

	began = time.Now()
	info.Reports, err = r.E2E(ctx, plan.NS(topology.RoleClient), o.Kubeconfig())
	info.E2E = time.Since(began)
	r.step("e2e: done in %s", info.E2E.Round(time.Second))
	return info, r.writeInfo(info, err)
}

// E2E runs r.Tests from the namespace ns of a running lab (Do: its client namespace): the
// [Disruptive] tests after the others, in a ginkgo run of their own with one process, since
// they restart what the others rely on. It returns the ginkgo JSON reports written, relative to
// r.Out; an error means a run wrote none. Failing tests are not an error.
func (r Run) E2E(ctx context.Context, ns, kubeconfig string) ([]string, error) {
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return nil, err
	}
	var parallel, disruptive []string
	for _, t := range r.Tests {
		if strings.Contains(t, "[Disruptive]") {
			disruptive = append(disruptive, t)
		} else {
			parallel = append(parallel, t)
		}
	}
	passes := []struct {
		name  string
		tests []string
		procs int
	}{{"parallel", parallel, max(r.Procs, 1)}, {"disruptive", disruptive, 1}}
	var reports []string
	var errs []error
	for _, p := range passes {
		if len(p.tests) == 0 {
			continue
		}
		report := "report-" + p.name + ".json"
		r.step("e2e (%s): %d tests, %d ginkgo processes", p.name, len(p.tests), p.procs)
		err := r.ginkgo(ctx, ns, kubeconfig, p.name, p.tests, p.procs)
		if _, statErr := os.Stat(filepath.Join(r.Out, report)); statErr == nil {
			reports = append(reports, report)
		} else {
			errs = append(errs, fmt.Errorf("e2e (%s): no report: %w", p.name, errors.Join(err, statErr)))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return reports, errors.Join(errs...)
}

func (r Run) step(format string, args ...any) {
	_, _ = fmt.Fprintf(r.Progress, "conformance [%s] %s: %s\n", r.Proxy, time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r Run) writeInfo(info RunInfo, err error) error {
	b, jerr := json.MarshalIndent(info, "", "  ")
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	return errors.Join(err, os.WriteFile(filepath.Join(r.Out, "run.json"), append(b, '\n'), 0o644))
}

// lab runs frontdesk-lab with its output appended to lab.log.
func (r Run) lab(ctx context.Context, args ...string) error {
	log, err := os.OpenFile(filepath.Join(r.Out, "lab.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	cmd := exec.CommandContext(ctx, r.Lab, args...)
	cmd.Dir = r.Repo
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// ginkgo runs e2e.test through ginkgo's CLI (the only way to run it in parallel) inside the
// namespace ns, focused on exactly the given tests. Its output goes to
// e2e-<pass>.log, its reports to report-<pass>.json and junit-<pass>.xml.
func (r Run) ginkgo(ctx context.Context, ns, kubeconfig, pass string, tests []string, procs int) error {
	log, err := os.Create(filepath.Join(r.Out, "e2e-"+pass+".log"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	repoList, err := filepath.Abs(filepath.Join(r.Repo, "test/conformance/repo-list.yaml"))
	if err != nil {
		return err
	}
	out, err := filepath.Abs(r.Out)
	if err != nil {
		return err
	}
	args := []string{"netns", "exec", ns, filepath.Join(r.K8sBin, "ginkgo"), "run",
		fmt.Sprintf("--procs=%d", procs), "--timeout=6h", "--no-color", "--poll-progress-after=10m",
		"--output-dir=" + out, "--json-report=report-" + pass + ".json", "--junit-report=junit-" + pass + ".xml",
		"--focus=" + ExactFocus(tests),
		filepath.Join(r.K8sBin, "e2e.test"), "--",
		"-kubeconfig=" + kubeconfig,
		"-kubectl-path=" + filepath.Join(r.K8sBin, "kubectl"),
		"-kube-test-repo-list=" + repoList,
		"-e2e-output-dir=" + filepath.Join(out, "e2e"),
		// The framework's log dump runs cluster/log-dump/log-dump.sh of a Kubernetes checkout,
		// which is not here; the lab's own logs are in its folder.
		"-disable-log-dump",
	}
	if r.Nodes > 0 {
		// Left at -1, the node count is found by ginkgo's first process only, and the tests
		// that check it in the others skip themselves ("Requires at least 2 nodes (not -1)").
		args = append(args, fmt.Sprintf("-num-nodes=%d", r.Nodes))
	}
	cmd := exec.Command("ip", args...)
	cmd.Dir = out
	cmd.Stdout, cmd.Stderr = log, log
	// The e2e framework reads $HOME for nothing we need; keep its caches out of ours.
	cmd.Env = append(os.Environ(), "HOME="+out)
	// Interrupted, ginkgo (which `ip netns exec` execs) and its test processes stop the running
	// tests, run their clean-up and write the reports; killed, they would leave none. The
	// interrupted tests' clean-up and dumps took over 3 minutes once: a second interrupt after
	// interruptGrace skips what is left of it.
	return runInterruptible(ctx, cmd, interruptGrace)
}

// interruptGrace is how long an interrupted e2e run gets at each step of runInterruptible.
const interruptGrace = 2 * time.Minute

// ExactFocus is a ginkgo focus regexp matching exactly the tests named (their full names, as
// tests.txt lists them), and no test whose name merely contains one of them.
func ExactFocus(tests []string) string {
	quoted := make([]string, len(tests))
	for i, t := range tests {
		quoted[i] = regexp.QuoteMeta(t)
	}
	// ginkgo matches the suite's description, a space and the full name.
	return " (?:" + strings.Join(quoted, "|") + ")$"
}

// LinkImages fills dir with links to the image archives of the folders given, in order: the
// lab's images (make images), then the e2e tests' (make conformance-images). An archive of a
// later folder holding the same image names as one of an earlier folder replaces it (the e2e
// agnhost is the lab's with tools added, under the same name and tag); any other archive is
// added, prefixed with its folder's position when its file name is taken.
func LinkImages(dir string, folders []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type archive struct{ path, names string }
	byFile := map[string]archive{}
	var order []string
	for i, f := range folders {
		archives, err := filepath.Glob(filepath.Join(f, "*.tar"))
		if err != nil {
			return err
		}
		if len(archives) == 0 {
			return fmt.Errorf("no image archive in %s", f)
		}
		for _, a := range archives {
			n, err := kubenode.ArchiveImageNames(a)
			if err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
			slices.Sort(n)
			names := strings.Join(n, " ")
			file := filepath.Base(a)
			if old, ok := byFile[file]; ok && old.names != names {
				file = fmt.Sprintf("%d-%s", i, file)
			}
			if _, ok := byFile[file]; !ok {
				order = append(order, file)
			}
			byFile[file] = archive{a, names}
		}
	}
	for _, file := range order {
		abs, err := filepath.Abs(byFile[file].path)
		if err != nil {
			return err
		}
		if err := os.Symlink(abs, filepath.Join(dir, file)); err != nil {
			return err
		}
	}
	return nil
}

// describe is git describe of the checkout, with -dirty when its tree has changes.
func describe(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty", "--tags").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
