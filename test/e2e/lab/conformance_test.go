//go:build netns && integration

package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
	"github.com/frontdesk-lb/frontdesk/test/conformance"
)

// withConformanceImages has the lab's nodes import the images only Kubernetes' e2e tests use
// (make conformance-images) beside the lab's own, as make conformance's labs do.
func withConformanceImages(t testing.TB) func(*supervisor.Options) {
	t.Helper()
	repo, _ := repoAndK8sBin(t)
	dir := filepath.Join(t.TempDir(), "images")
	if err := conformance.LinkImages(dir, []string{supervisor.ImagesDir(repo), filepath.Join(repo, "bin", "conformance-images")}); err != nil {
		t.Fatalf("%v: make conformance-images builds them (make test does)", err)
	}
	return func(o *supervisor.Options) { o.Images = dir }
}

// testConformanceSubset runs the fixed subset of Kubernetes' network e2e tests
// (test/conformance/subset) against the lab, with ginkgo from its client namespace as
// make conformance does: each must pass. It keeps the whole selection from rotting between runs
// of make conformance (docs/conformance.md).
func testConformanceSubset(t *testing.T, l *lab) {
	_, k8sBin := repoAndK8sBin(t)
	for _, b := range []string{"e2e.test", "ginkgo"} {
		if _, err := os.Stat(filepath.Join(k8sBin, b)); err != nil {
			t.Fatalf("%v: make conformance-tools builds it (make test does)", err)
		}
	}
	list, err := conformance.LoadList(l.repo)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := conformance.LoadSubset(l.repo, list)
	if err != nil {
		t.Fatal(err)
	}
	r := conformance.Run{Proxy: l.o.Proxy, Tests: tests, Nodes: l.o.Nodes, Procs: 3, Repo: l.repo, K8sBin: k8sBin,
		Out: t.TempDir(), Progress: logWriter{t}}
	reports, runErr := r.E2E(t.Context(), l.plan.NS(topology.RoleClient), l.o.Kubeconfig())
	var paths []string
	for _, p := range reports {
		paths = append(paths, filepath.Join(r.Out, p))
	}
	results, err := conformance.ReadResults(paths...)
	if err != nil || runErr != nil {
		t.Fatalf("e2e: %v %v\n%s", runErr, err, logTails(r.Out))
	}
	var failed []string
	for _, name := range tests {
		res, ok := results[name]
		switch {
		case !ok:
			failed = append(failed, name+": not run")
		case res.Outcome != conformance.Passed:
			failed = append(failed, fmt.Sprintf("%s: %s: %s (%s)", name, res.Outcome, res.Message, res.Location))
		default:
			t.Logf("passed in %s: %s", res.Duration.Round(100*time.Millisecond), name)
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d tests of the subset did not pass:\n%s\n%s", len(failed), len(tests), strings.Join(failed, "\n"), logTails(r.Out))
	}
}

// logTails is the end of each ginkgo output in dir.
func logTails(dir string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "e2e-*.log"))
	var b strings.Builder
	for _, f := range logs {
		if tail, ok := fileTail(f, 60); ok {
			fmt.Fprintf(&b, "--- %s (last 60 lines)\n%s\n", filepath.Base(f), tail)
		}
	}
	return b.String()
}
