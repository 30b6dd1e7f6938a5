// Package conformance reads the selection of Kubernetes' e2e tests that frontdesk is held to
// (issue 16): focus groups and skips with their reasons, kept in the file named selection
// beside this one, and turns it into the e2e.test flags that select them.
package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Group is a named set of tests, selected by a regexp on their full names.
type Group struct {
	Name  string
	Focus *regexp.Regexp
}

// Skip keeps the selected tests whose names match Pattern from running, for Reason.
type Skip struct {
	Pattern *regexp.Regexp
	Reason  string
}

// Selection is the parsed selection file: groups in file order, then skips.
type Selection struct {
	Groups []Group
	Skips  []Skip
}

// ErrSyntax is wrapped by every error Parse returns for a malformed line.
var ErrSyntax = errors.New("selection syntax")

// Parse reads a selection file: blank lines and lines starting with # are ignored;
//
//	focus <group> <regexp>
//	skip <regexp> # <reason>
//
// Group names are unique; a skip needs a reason. ginkgo matches the regexps against the suite's
// description, a space and the test's full name, so one starting with ^ is refused: it would
// select nothing.
func Parse(r io.Reader) (Selection, error) {
	var s Selection
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch kind {
		case "focus":
			name, expr, _ := strings.Cut(rest, " ")
			expr = strings.TrimSpace(expr)
			if name == "" || expr == "" {
				return Selection{}, fmt.Errorf("%w: line %d: want `focus <group> <regexp>`", ErrSyntax, n)
			}
			if seen[name] {
				return Selection{}, fmt.Errorf("%w: line %d: group %q listed twice", ErrSyntax, n, name)
			}
			seen[name] = true
			re, err := compile(expr)
			if err != nil {
				return Selection{}, fmt.Errorf("%w: line %d: group %s: %w", ErrSyntax, n, name, err)
			}
			s.Groups = append(s.Groups, Group{Name: name, Focus: re})
		case "skip":
			expr, reason, _ := strings.Cut(rest, " # ")
			expr, reason = strings.TrimSpace(expr), strings.TrimSpace(reason)
			if expr == "" || reason == "" {
				return Selection{}, fmt.Errorf("%w: line %d: want `skip <regexp> # <reason>`: every skip says why", ErrSyntax, n)
			}
			re, err := compile(expr)
			if err != nil {
				return Selection{}, fmt.Errorf("%w: line %d: skip: %w", ErrSyntax, n, err)
			}
			s.Skips = append(s.Skips, Skip{Pattern: re, Reason: reason})
		default:
			return Selection{}, fmt.Errorf("%w: line %d: %q: accepted: focus, skip", ErrSyntax, n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		return Selection{}, err
	}
	if len(s.Groups) == 0 {
		return Selection{}, fmt.Errorf("%w: no focus line: nothing would be selected", ErrSyntax)
	}
	return s, nil
}

func compile(expr string) (*regexp.Regexp, error) {
	if strings.HasPrefix(expr, "^") {
		return nil, fmt.Errorf("%q starts with ^: ginkgo matches it against the suite's description and the test's name, so it would match nothing", expr)
	}
	return regexp.Compile(expr)
}

// GinkgoArgs are the e2e.test flags of the selection: one -ginkgo.focus per group (ginkgo runs
// a test matching any of them) and one -ginkgo.skip per skip. Without skips, no -ginkgo.skip
// is given; the framework then adds none of its own, since a focus is set.
func (s Selection) GinkgoArgs() []string {
	var args []string
	for _, g := range s.Groups {
		args = append(args, "-ginkgo.focus="+g.Focus.String())
	}
	for _, k := range s.Skips {
		args = append(args, "-ginkgo.skip="+k.Pattern.String())
	}
	return args
}

// FocusArgs are GinkgoArgs without the skips: every test a group selects.
func (s Selection) FocusArgs() []string {
	return Selection{Groups: s.Groups}.GinkgoArgs()
}

// GroupOf names the first group whose regexp matches the test's full name, or "".
func (s Selection) GroupOf(test string) string {
	for _, g := range s.Groups {
		if g.Focus.MatchString(test) {
			return g.Name
		}
	}
	return ""
}

// SkipOf returns the first skip matching the test's full name.
func (s Selection) SkipOf(test string) (Skip, bool) {
	for _, k := range s.Skips {
		if k.Pattern.MatchString(test) {
			return k, true
		}
	}
	return Skip{}, false
}
