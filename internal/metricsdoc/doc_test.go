package metricsdoc

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md from the source (make metrics-doc)")

const root = "../.."

// defined is the module's metrics, read once for every test that needs them.
var defined = sync.OnceValues(func() ([]Metric, error) { return Find(root) })

// Every metric frontdesk defines follows the conventions.
func TestConventions(t *testing.T) {
	ms, err := defined()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 40 {
		t.Fatalf("found %d metrics: fewer than the source defines, so Find misses some", len(ms))
	}
	for _, err := range Check(ms) {
		t.Error(err)
	}
}

// docs/metrics.md is what the source says; -update (make metrics-doc) rewrites it.
func TestDocIsCurrent(t *testing.T) {
	ms, err := defined()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := Binaries(root, Servers...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if len(bins[m.Package]) == 0 {
			t.Errorf("%s (%s): no binary that serves /metrics links package %s", m.Name, m.Pos, m.Package)
		}
	}
	want := Render(ms, bins)
	path := filepath.Join(root, DocPath)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run make metrics-doc", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make metrics-doc. First difference near:\n%s", DocPath, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range wl {
		if i >= len(gl) || wl[i] != gl[i] {
			g := "(end of file)"
			if i < len(gl) {
				g = gl[i]
			}
			return "want: " + wl[i] + "\n got: " + g
		}
	}
	return "(the file has extra lines at its end)"
}

// Every metric the chart's alerts and dashboard read is one frontdesk defines (a histogram's
// series by its _bucket, _sum and _count names): a renamed metric cannot leave an alert that never
// fires or a panel that stays empty.
func TestAlertsAndDashboardReadDefinedMetrics(t *testing.T) {
	ms, err := defined()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, m := range ms {
		kinds[m.Name] = m.Kind
	}
	for _, file := range []string{"alerts.yaml", "dashboard.json"} {
		readDefined(t, filepath.Join(root, "charts", "frontdesk", "files", file), kinds)
	}
}

func readDefined(t *testing.T, path string, kinds map[string]string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`\bfrontdesk_[a-z0-9_]+`).FindAllString(string(text), -1)
	if len(named) < 10 {
		t.Fatalf("%s names %d metrics: fewer than it reads", path, len(named))
	}
	for _, n := range named {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && kinds[b] == "histogram" {
				base = b
			}
		}
		if kinds[base] == "" {
			t.Errorf("%s reads %s, which no code defines (docs/metrics.md)", path, n)
		}
	}
}
