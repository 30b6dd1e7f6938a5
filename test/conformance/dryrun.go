package conformance

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Select is what sel picks from the e2e.test binary at e2e, as ginkgo itself decides: e2e.test
// runs twice with -ginkgo.dry-run (no cluster is needed), once with the groups' focus only and
// once with the skips too; the tests of the second run are listed per group, sorted, and those
// only the first run has as skipped, with their skip's reason. The list's Source is left empty.
func Select(e2e string, sel Selection) (List, error) {
	focused, err := dryRun(e2e, sel.FocusArgs())
	if err != nil {
		return List{}, err
	}
	selected, err := dryRun(e2e, sel.GinkgoArgs())
	if err != nil {
		return List{}, err
	}
	var l List
	byGroup := map[string][]string{}
	for _, t := range selected {
		g := sel.GroupOf(t)
		if g == "" {
			return List{}, fmt.Errorf("ginkgo selected %q, which no group's regexp matches (Go and ginkgo disagree?)", t)
		}
		byGroup[g] = append(byGroup[g], t)
	}
	for _, g := range sel.Groups {
		slices.Sort(byGroup[g.Name])
		l.Groups = append(l.Groups, ListGroup{Name: g.Name, Tests: byGroup[g.Name]})
	}
	for _, t := range focused {
		if slices.Contains(selected, t) {
			continue
		}
		k, ok := sel.SkipOf(t)
		if !ok {
			return List{}, fmt.Errorf("ginkgo skipped %q, which no skip's regexp matches", t)
		}
		l.Skipped = append(l.Skipped, SkippedTest{Name: t, Reason: k.Reason})
	}
	slices.SortFunc(l.Skipped, func(a, b SkippedTest) int { return strings.Compare(a.Name, b.Name) })
	return l, nil
}

// dryRun returns the full names of the tests (It nodes) a ginkgo dry run of e2e.test with args
// would run: in a dry run ginkgo reports them passed and the others skipped.
func dryRun(e2e string, args []string) ([]string, error) {
	dir, err := os.MkdirTemp("", "conformance-list-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	js := filepath.Join(dir, "report.json")
	argv := append([]string{"-ginkgo.dry-run", "-ginkgo.no-color", "-ginkgo.json-report=" + js}, args...)
	cmd := exec.Command(e2e, argv...)
	// The framework writes nothing in a dry run, but keep its working directory ours.
	cmd.Dir = dir
	if outp, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", e2e, strings.Join(argv, " "), err, tail(outp))
	}
	reports, err := readReports(js)
	if err != nil {
		return nil, err
	}
	if len(reports) != 1 {
		return nil, fmt.Errorf("ginkgo's JSON report holds %d suites, want 1", len(reports))
	}
	var names []string
	for _, s := range reports[0].SpecReports {
		if s.LeafNodeType == "It" && s.State == "passed" {
			names = append(names, s.name())
		}
	}
	if len(names) == 0 {
		return nil, errors.New("the dry run selected no test")
	}
	return names, nil
}

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
