package metricsdoc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Find reads both packages' shapes (constants and +, labels, constant labels, an import under
// another name) and leaves out test files and nested modules.
func TestFind(t *testing.T) {
	got, err := Find("testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	want := []Metric{
		{Name: "frontdesk_b_latency_seconds", Kind: "histogram", Help: "Latency.", ConstLabels: []string{"arch", "version"},
			Package: "b", Pos: "b/b.go:6"},
		{Name: "frontdesk_depth", Kind: "gauge", Help: "Depth.", Stability: "ALPHA", Package: "a", Pos: "a/a.go:18"},
		{Name: "frontdesk_thing_syncs_total", Kind: "counter", Help: "Syncs, by result.", Labels: []string{"result", "kind"},
			Stability: "BETA", Package: "a", Pos: "a/a.go:13"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A definition that cannot be read from the source is an error naming where it is, never a
// metric silently left out of the document.
func TestFindRefusesWhatItCannotRead(t *testing.T) {
	_, err := Find("testdata/bad")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"c/c.go:9:", "GaugeOpts literal outside a New… call",
		"c/c.go:11:", "the options are not a literal",
		"c/c.go:13:", "not a constant string",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
