package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stream is govulncheck -format json output in small: one advisory reached down to a function,
// one only imported (no function), one on a module only.
const stream = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck"}}
{"progress":{"message":"Scanning your code..."}}
{"osv":{"id":"GO-2026-0001"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.3","trace":[{"module":"example.com/a","version":"v1.2.0","package":"example.com/a/p","function":"Parse","receiver":"*Decoder"},{"module":"github.com/frontdesk-lb/frontdesk","package":"github.com/frontdesk-lb/frontdesk/proxy","function":"run"}]}}
{"finding":{"osv":"GO-2026-0002","trace":[{"module":"example.com/b","version":"v0.1.0","package":"example.com/b"}]}}
{"finding":{"osv":"GO-2026-0003","fixed_version":"v2.0.0","trace":[{"module":"example.com/c","version":"v1.0.0"}]}}
`

func TestReachableKeepsOnlyFindingsDownToAFunction(t *testing.T) {
	found, err := reachable(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := found["GO-2026-0001"]; len(found) != 1 || !ok || f.Trace[0].Function != "Parse" {
		t.Fatalf("reachable = %v, want GO-2026-0001 only", found)
	}
}

func TestReportFailsOnAReachableAdvisoryUnlessAccepted(t *testing.T) {
	found, err := reachable(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = report(&out, found, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "GO-2026-0001") {
		t.Fatalf("report with nothing accepted: err = %v, want GO-2026-0001 named", err)
	}
	if want := "REACHABLE GO-2026-0001 in example.com/a@v1.2.0 (fixed in v1.2.3), reached at example.com/a/p.Decoder.Parse"; !strings.Contains(out.String(), want) {
		t.Errorf("report printed %q, want a line %q", out.String(), want)
	}
	out.Reset()
	if err := report(&out, found, map[string]string{"GO-2026-0001": "only parses our own files", "GO-2026-0009": "old"}); err != nil {
		t.Fatalf("report with GO-2026-0001 accepted: %v", err)
	}
	if !strings.Contains(out.String(), "GO-2026-0009 is accepted in the list but no longer reached") {
		t.Errorf("report did not point out the stale entry: %q", out.String())
	}
}

func TestReadAcceptedWantsAReason(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("# comment\n\nGO-2026-4736 peers are configured routers\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readAccepted(good)
	if err != nil || got["GO-2026-4736"] != "peers are configured routers" {
		t.Fatalf("readAccepted = %v, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("GO-2026-4736\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readAccepted(bad); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Fatalf("readAccepted of an entry without a reason: err = %v, want the line named", err)
	}
}
