// Command vulncheck runs govulncheck (pinned in hack/tools) over the module against a pinned
// snapshot of the Go vulnerability database, and fails on a vulnerability that the code reaches
// (a finding down to a called function), unless accepted.txt accepts it with a reason.
//
// The database comes through the Go module proxy, as the module golang.org/x/vulndb whose
// data/osv folder holds one OSV file an advisory: govulncheck reads such a folder with
// -db file://. A pinned snapshot makes the check the same on every machine and every run; moving
// it forward is a one-line change of the Makefile's VULNDB_VERSION, as for any other pinned tool.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	vulndb := flag.String("vulndb-version", "", "version of the module golang.org/x/vulndb to check against (required)")
	accepted := flag.String("accepted", "hack/vulncheck/accepted.txt", "file of accepted advisories: an ID and its reason a line")
	flag.Parse()
	if err := run(*vulndb, *accepted, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(1)
	}
}

func run(version, acceptedFile string, pkgs []string) error {
	if version == "" {
		return errors.New("--vulndb-version is required")
	}
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	accepted, err := readAccepted(acceptedFile)
	if err != nil {
		return err
	}
	dir, err := downloadDB(version)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vulncheck: govulncheck %s against golang.org/x/vulndb@%s\n", strings.Join(pkgs, " "), version)
	args := append([]string{"tool", "-modfile=hack/tools/go.mod", "govulncheck", "-format", "json",
		"-db", "file://" + filepath.Join(dir, "data", "osv")}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("govulncheck: %w", err)
	}
	findings, err := reachable(bytes.NewReader(out))
	if err != nil {
		return err
	}
	var text strings.Builder
	err = report(&text, findings, accepted)
	fmt.Print(text.String())
	return err
}

// downloadDB fetches the database module (from the module cache once it is there) and returns
// its folder.
func downloadDB(version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+version)
	cmd.Dir = os.TempDir() // outside the module: the database is not one of its requirements
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); jerr != nil || m.Error != "" || err != nil {
		return "", fmt.Errorf("downloading golang.org/x/vulndb@%s: %w", version, errors.Join(err, jerr, errorText(m.Error)))
	}
	return m.Dir, nil
}

// errorText is the go command's error text as an error, nil when empty.
func errorText(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

// finding is what govulncheck's JSON stream says of one advisory in one place.
type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

// reachable reads govulncheck's JSON stream and returns, by advisory, the first finding the code
// reaches: one whose trace names a function (a finding on a module or an imported package only
// does not).
func reachable(r io.Reader) (map[string]finding, error) {
	dec := json.NewDecoder(r)
	found := map[string]finding{}
	for {
		var msg struct {
			Finding *finding `json:"finding"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return found, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		if f := msg.Finding; f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" {
			if _, seen := found[f.OSV]; !seen {
				found[f.OSV] = *f
			}
		}
	}
}

// report prints each reachable advisory and fails unless every one is accepted.
func report(w *strings.Builder, findings map[string]finding, accepted map[string]string) error {
	var failing []string
	for _, id := range slices.Sorted(maps.Keys(findings)) {
		f := findings[id]
		vuln := f.Trace[0]
		fixed := "fixed in " + f.FixedVersion
		if f.FixedVersion == "" {
			fixed = "no fixed version"
		}
		at := vuln.Package + "." + vuln.Function
		if vuln.Receiver != "" {
			at = vuln.Package + "." + strings.TrimPrefix(vuln.Receiver, "*") + "." + vuln.Function
		}
		line := fmt.Sprintf("%s in %s@%s (%s), reached at %s", id, vuln.Module, vuln.Version, fixed, at)
		if reason, ok := accepted[id]; ok {
			fmt.Fprintf(w, "accepted  %s: %s\n", line, reason)
			continue
		}
		fmt.Fprintf(w, "REACHABLE %s\n", line)
		failing = append(failing, id)
	}
	for _, id := range slices.Sorted(maps.Keys(accepted)) {
		if _, ok := findings[id]; !ok {
			fmt.Fprintf(w, "note: %s is accepted in the list but no longer reached: remove it\n", id)
		}
	}
	if len(failing) > 0 {
		return fmt.Errorf("%d reachable vulnerabilities: %s (upgrade the module, or accept one in the list with its reason)",
			len(failing), strings.Join(failing, " "))
	}
	fmt.Fprintf(w, "vulncheck: no reachable vulnerability beyond the %d accepted\n", len(accepted))
	return nil
}

// readAccepted reads the accepted advisories: "ID reason…" a line, # comments and blank lines
// skipped. An entry without a reason is an error: the list is there to say why.
func readAccepted(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	accepted := map[string]string{}
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(id, "GO-") || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want an advisory ID (GO-…) and the reason it is accepted", path, n)
		}
		accepted[id] = strings.TrimSpace(reason)
	}
	return accepted, s.Err()
}
