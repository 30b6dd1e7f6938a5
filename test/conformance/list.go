package conformance

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// List is what a selection picks from one e2e.test: the tests of each group, in the
// selection's group order, and the tests its skips keep from running.
type List struct {
	// Source says how the list was made; written as the file's first comment lines.
	Source  []string
	Groups  []ListGroup
	Skipped []SkippedTest
}

// ListGroup holds the selected tests of one group, sorted by name.
type ListGroup struct {
	Name  string
	Tests []string
}

// SkippedTest is a test a group selects and a skip keeps from running.
type SkippedTest struct {
	Name, Reason string
}

const (
	groupHeader   = "# group "
	skippedHeader = "# skipped by the selection: "
)

// Write writes the list as tests.txt holds it: the source lines as comments, then per group
// a header with its count and one test name a line, then the skipped tests with their reasons.
func (l List) Write(w io.Writer) error {
	var b strings.Builder
	for _, s := range l.Source {
		fmt.Fprintf(&b, "# %s\n", s)
	}
	for _, g := range l.Groups {
		fmt.Fprintf(&b, "\n%s%s: %d tests\n", groupHeader, g.Name, len(g.Tests))
		for _, t := range g.Tests {
			b.WriteString(t + "\n")
		}
	}
	fmt.Fprintf(&b, "\n%s%d tests\n", skippedHeader, len(l.Skipped))
	for _, s := range l.Skipped {
		fmt.Fprintf(&b, "%s # %s\n", s.Name, s.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ReadList reads what Write wrote. The counts in the headers are not read: Write of what
// ReadList returns must give back the same text (TestCommittedList).
func ReadList(r io.Reader) (List, error) {
	var l List
	inSkipped := false
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, groupHeader):
			name, _, ok := strings.Cut(strings.TrimPrefix(line, groupHeader), ":")
			if !ok {
				return List{}, fmt.Errorf("line %d: group header without a count: %q", n, line)
			}
			l.Groups = append(l.Groups, ListGroup{Name: name})
			inSkipped = false
		case strings.HasPrefix(line, skippedHeader):
			inSkipped = true
		case len(l.Groups) == 0 && !inSkipped && strings.HasPrefix(line, "# "):
			l.Source = append(l.Source, strings.TrimPrefix(line, "# "))
		case line == "" || strings.HasPrefix(line, "#"):
		case inSkipped:
			name, reason, ok := strings.Cut(line, " # ")
			if !ok {
				return List{}, fmt.Errorf("line %d: skipped test without a reason: %q", n, line)
			}
			l.Skipped = append(l.Skipped, SkippedTest{Name: name, Reason: reason})
		case len(l.Groups) == 0:
			return List{}, fmt.Errorf("line %d: test name before any group header: %q", n, line)
		default:
			g := &l.Groups[len(l.Groups)-1]
			g.Tests = append(g.Tests, line)
		}
	}
	return l, sc.Err()
}
