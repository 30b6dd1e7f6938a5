package conformance

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no focus", "# only a comment\n", "no focus line"},
		{"focus without regexp", "focus services\n", "want `focus <group> <regexp>`"},
		{"group twice", "focus a x\nfocus a y\n", `group "a" listed twice`},
		{"bad regexp", "focus a [\n", "group a: error parsing regexp"},
		{"anchored", `focus a ^\[sig-network\]` + "\n", "starts with ^"},
		{"skip without reason", "focus a x\nskip y\n", "every skip says why"},
		{"skip with empty reason", "focus a x\nskip y # \n", "every skip says why"},
		{"unknown kind", "focus a x\nlabel y\n", `"label": accepted: focus, skip`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in))
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want an ErrSyntax saying %q", err, tc.want)
			}
		})
	}
}

func TestParseArgsAndGroups(t *testing.T) {
	s, err := Parse(strings.NewReader(`# a comment
focus conformance \[sig-network\] .*\[Conformance\]

focus services \[sig-network\] Services\s
skip \[Disruptive\] # needs SSH to the nodes, which the lab has not
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`-ginkgo.focus=\[sig-network\] .*\[Conformance\]`,
		`-ginkgo.focus=\[sig-network\] Services\s`,
		`-ginkgo.skip=\[Disruptive\]`,
	}
	if diff := cmp.Diff(want, s.GinkgoArgs()); diff != "" {
		t.Errorf("GinkgoArgs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:2], s.FocusArgs()); diff != "" {
		t.Errorf("FocusArgs (-want +got):\n%s", diff)
	}
	for test, group := range map[string]string{
		"[sig-network] Services should serve a basic endpoint from pods  [Conformance]": "conformance",
		"[sig-network] Services should release NodePorts on delete":                     "services",
		"[sig-network] Conntrack should be able to preserve UDP traffic":                "",
	} {
		if got := s.GroupOf(test); got != group {
			t.Errorf("GroupOf(%q) = %q, want %q", test, got, group)
		}
	}
	if k, ok := s.SkipOf("[sig-network] Services should work after restarting apiserver [Disruptive]"); !ok || k.Reason != "needs SSH to the nodes, which the lab has not" {
		t.Errorf("SkipOf: %+v, %v", k, ok)
	}
}

func TestListRoundTrip(t *testing.T) {
	l := List{
		Source: []string{"made by a test"},
		Groups: []ListGroup{
			{Name: "conformance", Tests: []string{"[sig-network] A [Conformance]", "[sig-network] B [Conformance]"}},
			{Name: "empty"},
		},
		Skipped: []SkippedTest{{Name: "[sig-network] C", Reason: "a lab limit"}},
	}
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadList(&b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, got); diff != "" {
		t.Errorf("ReadList(Write(l)) (-want +got):\n%s", diff)
	}
}

// TestCommittedList checks tests.txt against selection, so that neither is edited alone: the
// groups in the selection's order, each test in the group GroupOf names, each skipped test
// with the reason of the skip matching it, and the file as Write writes it (its counts
// included). Whether e2e.test still selects exactly these is what `go run
// ./test/conformance/list` rewrites, and TestCommittedListIsWhatE2ETestSelects checks when
// e2e.test is built.
func TestCommittedList(t *testing.T) {
	sel, l, b := committed(t)
	var written bytes.Buffer
	if err := l.Write(&written); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(b), written.String()); diff != "" {
		t.Errorf("tests.txt is not as the list command writes it (a count or a line edited by hand?) (-tests.txt +written):\n%s", diff)
	}
	var wantGroups, gotGroups []string
	for _, g := range sel.Groups {
		wantGroups = append(wantGroups, g.Name)
	}
	seen := map[string]bool{}
	for _, g := range l.Groups {
		gotGroups = append(gotGroups, g.Name)
		if len(g.Tests) == 0 {
			t.Errorf("group %s selects no test", g.Name)
		}
		for _, test := range g.Tests {
			if seen[test] {
				t.Errorf("%q is listed twice", test)
			}
			seen[test] = true
			if got := sel.GroupOf(test); got != g.Name {
				t.Errorf("%q is listed in group %s, the selection puts it in %q", test, g.Name, got)
			}
			if k, ok := sel.SkipOf(test); ok {
				t.Errorf("%q is listed as selected, but the skip %q matches it", test, k.Pattern)
			}
		}
	}
	if diff := cmp.Diff(wantGroups, gotGroups); diff != "" {
		t.Errorf("groups of tests.txt (-selection +tests.txt):\n%s", diff)
	}
	for _, s := range l.Skipped {
		if k, ok := sel.SkipOf(s.Name); !ok || k.Reason != s.Reason {
			t.Errorf("skipped %q for %q; the selection's skip: %+v (matched: %v)", s.Name, s.Reason, k, ok)
		}
	}
}

// committed reads the committed selection and tests.txt (also as its bytes).
func committed(t *testing.T) (Selection, List, []byte) {
	t.Helper()
	b, err := os.ReadFile("selection")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile("tests.txt")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ReadList(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sel, l, b
}
