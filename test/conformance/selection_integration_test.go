//go:build integration

package conformance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	dir, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	e2e := filepath.Join(dir, "e2e.test")
	if _, err := os.Stat(e2e); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not built: make conformance-tools", e2e)
	}
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
