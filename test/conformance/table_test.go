package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The fixture has one test of each kind a ginkgo JSON report holds: passed, failed, skipped by
// itself (a message), timed out, left out by the focus (skipped, no message), and a suite node.
func TestReadResults(t *testing.T) {
	got, err := ReadResults("testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Result{
		"[sig-network] Services should serve a basic endpoint from pods [Conformance]": {
			Name: "[sig-network] Services should serve a basic endpoint from pods [Conformance]", Outcome: Passed,
			Duration: 9942947497},
		"[sig-network] Services should release NodePorts on delete": {
			Name: "[sig-network] Services should release NodePorts on delete", Outcome: Failed,
			Message:  "expected correct response within timeout: context deadline exceeded",
			Location: "test/e2e/network/service.go:3949", Duration: 36911 * time.Millisecond},
		"[sig-network] Services should work after restarting apiserver [Disruptive]": {
			Name: "[sig-network] Services should work after restarting apiserver [Disruptive]", Outcome: Skipped,
			Message: "Apiserver is not running as a Pod | in a column", Location: "test/e2e/network/service.go:1200", Duration: time.Millisecond},
		"[sig-network] Conntrack should be able to preserve UDP traffic when server pod cycles for a NodePort service": {
			Name: "[sig-network] Conntrack should be able to preserve UDP traffic when server pod cycles for a NodePort service", Outcome: Failed,
			Message: "timedout: A suite timeout occurred", Location: "test/e2e/network/conntrack.go:130", Duration: 15 * time.Minute},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadResults (-want +got):\n%s", diff)
	}
}

func TestWriteTablesAndRewriteDoc(t *testing.T) {
	res, err := ReadResults("testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	l := List{Groups: []ListGroup{
		{Name: "services", Tests: []string{
			"[sig-network] Services should release NodePorts on delete",
			"[sig-network] Services should serve a basic endpoint from pods [Conformance]",
			"[sig-network] Services should work after restarting apiserver [Disruptive]",
		}},
		{Name: "dns", Tests: []string{"[sig-network] DNS should provide DNS for services [Conformance]"}},
	}}
	frontdesk := Proxied{Info: RunInfo{Proxy: "frontdesk", Commit: "abc1234", Nodes: 3, Procs: 4, Tests: 4, LabUp: 36 * time.Second, E2E: 25*time.Minute + 3*time.Second}, Results: res}
	base := Proxied{Info: RunInfo{Proxy: "kube-proxy", Commit: "abc1234"}, Results: map[string]Result{
		"[sig-network] Services should release NodePorts on delete": {Outcome: Passed},
	}}
	if diff := cmp.Diff([]string{"[sig-network] Services should release NodePorts on delete"}, Regressions(l, base, frontdesk)); diff != "" {
		t.Errorf("Regressions (-want +got):\n%s", diff)
	}
	c := Tally(l, frontdesk)
	if got := c[""].String(); got != "1 passed, 1 failed, 1 skipped, 1 not run" {
		t.Errorf("Tally: %s", got)
	}

	doc := filepath.Join(t.TempDir(), "conformance.md")
	if err := os.WriteFile(doc, []byte("# title\n\n"+docBegin+"\nold\n"+docEnd+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RewriteDoc(doc, l, []Proxied{frontdesk, base}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{
		"# title\n\n" + docBegin + "\n\n| run |",
		"| frontdesk | abc1234 | 3 | 4 | 4 | 0 min 36 s | 25 min 03 s |",
		"| services | 1 / 1 / 1 / 0 | 1 / 0 / 0 / 2 |",
		"| **all** | 1 / 1 / 1 / 1 | 1 / 0 / 0 / 3 |",
		"| Services should release NodePorts on delete | failed | passed | frontdesk: expected correct response within timeout: context deadline exceeded (test/e2e/network/service.go:3949) |",
		`| Services should work after restarting apiserver [Disruptive] | skipped | not run | frontdesk: Apiserver is not running as a Pod \| in a column (test/e2e/network/service.go:1200) |`,
		"\n" + docEnd + "\n\nafter\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the document lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "old") {
		t.Errorf("the old results section is still there:\n%s", out)
	}
	if err := RewriteDoc(filepath.Join(t.TempDir(), "none.md"), l, nil); err == nil {
		t.Error("RewriteDoc of a missing document succeeded")
	}
}
