package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Outcome is a test's result in one run, as the table writes it.
type Outcome string

const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"  // failed, panicked, timed out, interrupted or aborted
	Skipped Outcome = "skipped" // skipped by the test itself (e2eskipper), with its message
	NotRun  Outcome = "not run" // selected, but absent from the run's report
)

// Result is one test of one run.
type Result struct {
	Name     string
	Outcome  Outcome
	Message  string // why it failed or skipped: the first line of ginkgo's failure message
	Location string // where it failed: file:line in the Kubernetes sources
	Duration time.Duration
}

// specReport is the part of ginkgo's JSON report (types.SpecReport) this package reads.
type specReport struct {
	LeafNodeType            string
	ContainerHierarchyTexts []string
	LeafNodeText            string
	State                   string
	RunTime                 time.Duration
	Failure                 struct {
		Message  string
		Location struct {
			FileName   string
			LineNumber int
		}
	}
}

// report is the part of ginkgo's JSON report (types.Report) this package reads.
type report struct {
	SpecReports []specReport
}

func (s specReport) name() string {
	return strings.Join(slices.Concat(s.ContainerHierarchyTexts, []string{s.LeafNodeText}), " ")
}

// readReports reads a ginkgo JSON report file: one report per suite.
func readReports(path string) ([]report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reports []report
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("%s: ginkgo's JSON report: %w", path, err)
	}
	return reports, nil
}

// ReadResults reads the tests (It nodes) of ginkgo JSON reports, by full name. Tests ginkgo
// skipped because no focus selected them are left out: a run's report holds every test of the
// suite. A test found in more than one report keeps the last one's result.
func ReadResults(paths ...string) (map[string]Result, error) {
	out := map[string]Result{}
	for _, p := range paths {
		reports, err := readReports(p)
		if err != nil {
			return nil, err
		}
		for _, r := range reports {
			for _, s := range r.SpecReports {
				if s.LeafNodeType != "It" {
					continue
				}
				res, ok := s.result()
				if ok {
					out[res.Name] = res
				}
			}
		}
	}
	return out, nil
}

// result turns one spec report into a Result; ok is false for a test the run did not select.
func (s specReport) result() (Result, bool) {
	res := Result{Name: s.name(), Duration: s.RunTime, Message: firstLine(s.Failure.Message)}
	if f := s.Failure.Location.FileName; f != "" {
		res.Location = fmt.Sprintf("%s:%d", trimModulePath(f), s.Failure.Location.LineNumber)
	}
	switch s.State {
	case "passed":
		res.Outcome = Passed
	case "skipped":
		// Ginkgo reports every test the focus left out as skipped, with no message; a test
		// that skips itself (e2eskipper.Skipf) carries the reason as its failure message.
		if s.Failure.Message == "" {
			return Result{}, false
		}
		res.Outcome = Skipped
	case "pending":
		return Result{}, false
	default: // failed, panicked, timedout, interrupted, aborted
		res.Outcome = Failed
		if s.State != "failed" {
			res.Message = s.State + ": " + res.Message
		}
	}
	return res, true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// trimModulePath shortens a source path to its place in the Kubernetes tree
// (test/e2e/network/service.go), whatever module cache or checkout it was built from.
func trimModulePath(f string) string {
	if i := strings.Index(f, "/test/e2e/"); i >= 0 {
		return f[i+1:]
	}
	return f
}
