package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Proxied is one run's results under the name of its node proxy.
type Proxied struct {
	Info    RunInfo
	Results map[string]Result
}

// outcome is a test's result in p, NotRun when its report does not hold it.
func (p Proxied) outcome(test string) Result {
	if r, ok := p.Results[test]; ok {
		return r
	}
	return Result{Name: test, Outcome: NotRun}
}

// Counts are the number of tests per outcome.
type Counts map[Outcome]int

func (c Counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped, %d not run", c[Passed], c[Failed], c[Skipped], c[NotRun])
}

// Tally counts the outcomes of the tests in run, per group of l and in total (key "").
func Tally(l List, run Proxied) map[string]Counts {
	out := map[string]Counts{"": {}}
	for _, g := range l.Groups {
		out[g.Name] = Counts{}
		for _, t := range g.Tests {
			o := run.outcome(t).Outcome
			out[g.Name][o]++
			out[""][o]++
		}
	}
	return out
}

// Regressions are the tests that pass in base and not in run: what issue 16 forbids.
func Regressions(l List, base, run Proxied) []string {
	var out []string
	for _, g := range l.Groups {
		for _, t := range g.Tests {
			if base.outcome(t).Outcome == Passed && run.outcome(t).Outcome != Passed {
				out = append(out, t)
			}
		}
	}
	return out
}

// WriteTables writes the results section of docs/conformance.md: the runs (commit, wall
// times), the counts per group for each, and a table per group with each test's result under
// each run and, for a test that did not pass under the first run, why (its skip or failure
// message and where in the Kubernetes sources).
func WriteTables(w io.Writer, l List, runs []Proxied) error {
	var b strings.Builder
	b.WriteString("| run | commit | nodes | ginkgo processes | tests | lab up | e2e wall time |\n|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s |\n", r.Info.Proxy, r.Info.Commit, r.Info.Nodes,
			r.Info.Procs, r.Info.Tests, minutes(r.Info.LabUp), minutes(r.Info.E2E))
	}

	b.WriteString("\n| group |")
	for _, r := range runs {
		fmt.Fprintf(&b, " %s: passed / failed / skipped / not run |", r.Info.Proxy)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(runs)) + "\n")
	tallies := make([]map[string]Counts, len(runs))
	for i, r := range runs {
		tallies[i] = Tally(l, r)
	}
	groups := slices.Concat(l.Groups, []ListGroup{{Name: ""}})
	for _, g := range groups {
		name := g.Name
		if name == "" {
			name = "**all**"
		}
		fmt.Fprintf(&b, "| %s |", name)
		for i := range runs {
			c := tallies[i][g.Name]
			fmt.Fprintf(&b, " %d / %d / %d / %d |", c[Passed], c[Failed], c[Skipped], c[NotRun])
		}
		b.WriteString("\n")
	}

	for _, g := range l.Groups {
		fmt.Fprintf(&b, "\n### %s (%d tests)\n\n| test |", g.Name, len(g.Tests))
		for _, r := range runs {
			fmt.Fprintf(&b, " %s |", r.Info.Proxy)
		}
		b.WriteString(" why not passed |\n|---|" + strings.Repeat("---|", len(runs)) + "---|\n")
		for _, t := range g.Tests {
			fmt.Fprintf(&b, "| %s |", cell(strings.TrimPrefix(t, "[sig-network] ")))
			var why []string
			for _, r := range runs {
				res := r.outcome(t)
				fmt.Fprintf(&b, " %s |", res.Outcome)
				if res.Outcome == Failed || res.Outcome == Skipped {
					msg := res.Message
					if res.Location != "" {
						msg += " (" + res.Location + ")"
					}
					why = append(why, r.Info.Proxy+": "+msg)
				}
			}
			fmt.Fprintf(&b, " %s |\n", cell(strings.Join(why, "; ")))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func minutes(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
}

// ReadRun reads a run's folder: run.json and the ginkgo reports it names.
func ReadRun(dir string) (Proxied, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return Proxied{}, err
	}
	var p Proxied
	if err := json.Unmarshal(b, &p.Info); err != nil {
		return Proxied{}, fmt.Errorf("%s/run.json: %w", dir, err)
	}
	paths := make([]string, len(p.Info.Reports))
	for i, r := range p.Info.Reports {
		paths[i] = filepath.Join(dir, r)
	}
	p.Results, err = ReadResults(paths...)
	return p, err
}

// The results section of docs/conformance.md lies between these lines; RewriteDoc replaces
// what is between them and leaves the rest of the document as written.
const (
	docBegin = "<!-- results: written by make conformance (test/conformance/run), do not edit -->"
	docEnd   = "<!-- end of results -->"
)

// RewriteDoc replaces the results section of the document at path with WriteTables' output.
func RewriteDoc(path string, l List, runs []Proxied) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no results section (the lines %q and %q)", path, docBegin, docEnd)
	}
	var t strings.Builder
	if err := WriteTables(&t, l, runs); err != nil {
		return err
	}
	doc = doc[:i+len(docBegin)] + "\n\n" + t.String() + "\n" + doc[j:]
	return os.WriteFile(path, []byte(doc), 0o644)
}
