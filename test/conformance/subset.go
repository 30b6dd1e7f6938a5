package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Paths of the committed files, relative to the repository's root.
const (
	ListPath   = "test/conformance/tests.txt"
	SubsetPath = "test/conformance/subset"
)

// LoadList reads the committed tests.txt of the checkout at repo.
func LoadList(repo string) (List, error) {
	b, err := os.ReadFile(filepath.Join(repo, ListPath))
	if err != nil {
		return List{}, err
	}
	l, err := ReadList(bytes.NewReader(b))
	if err != nil {
		return List{}, fmt.Errorf("%s: %w", ListPath, err)
	}
	return l, nil
}

// LoadSubset reads the committed subset of the checkout at repo, checked against l.
func LoadSubset(repo string, l List) ([]string, error) {
	f, err := os.Open(filepath.Join(repo, SubsetPath))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	s, err := ReadSubset(f, l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SubsetPath, err)
	}
	return s, nil
}

// ReadSubset reads the tests make test runs: full test names, one a line, blank lines and lines
// starting with # ignored. Each must be a test of l, listed once: a name Kubernetes changed would
// otherwise select nothing, silently.
func ReadSubset(r io.Reader, l List) ([]string, error) {
	var all []string
	for _, g := range l.Groups {
		all = append(all, g.Tests...)
	}
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case !slices.Contains(all, line):
			return nil, fmt.Errorf("line %d: %q is not a test of tests.txt", n, line)
		case slices.Contains(out, line):
			return nil, fmt.Errorf("line %d: %q listed twice", n, line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no test listed")
	}
	return out, nil
}
