//go:build integration

package conformance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestCommittedListIsWhatE2ETestSelects runs Select with the committed selection against the
// cached e2e.test: tests.txt must be exactly what it picks, so a focus or skip changed without
// `make conformance-list`, or a test dropped from tests.txt with its count, fails here.
// e2e.test is outside the default set of hack/k8s/build.sh (make conformance-tools builds it),
// so without it the test is skipped.
func TestCommittedListIsWhatE2ETestSelects(t *testing.T) {
	e2e := builtE2E(t)
	sel, want, _ := committed(t)
	got, err := Select(e2e, sel)
	if err != nil {
		t.Fatal(err)
	}
	got.Source = want.Source
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tests.txt is not what e2e.test selects: run make conformance-list (-tests.txt +selected):\n%s", diff)
	}
}

// TestExactFocusSelectsTheList checks the focus the runs give ginkgo (ExactFocus of tests.txt's
// names) with a dry run of the cached e2e.test: exactly the listed tests, none of the tests whose
// names merely contain a listed one, and one group's tests alone when given alone.
func TestExactFocusSelectsTheList(t *testing.T) {
	e2e := builtE2E(t)
	_, l, _ := committed(t)
	var all []string
	for _, g := range l.Groups {
		all = append(all, g.Tests...)
	}
	for name, want := range map[string][]string{"all": all, "conntrack": l.Groups[len(l.Groups)-1].Tests} {
		got, err := dryRun(e2e, []string{"-ginkgo.focus=" + ExactFocus(want)})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: ExactFocus selects other tests (-listed +selected):\n%s", name, diff)
		}
	}
}

// builtE2E is the cached e2e.test; the test is skipped when it is not built.
func builtE2E(t *testing.T) string {
	t.Helper()
	dir, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	e2e := filepath.Join(dir, "e2e.test")
	if _, err := os.Stat(e2e); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not built: make conformance-tools", e2e)
	}
	return e2e
}
