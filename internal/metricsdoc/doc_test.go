package metricsdoc

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md from the source (make metrics-doc)")

const root = "../.."

// Every metric frontdesk defines follows the conventions.
func TestConventions(t *testing.T) {
	ms, err := Find(root)
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
	ms, err := Find(root)
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
