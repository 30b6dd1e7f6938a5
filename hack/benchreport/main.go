// Command benchreport runs the project's benchmark suites and writes their figures into
// docs/benchmarks.md, each suite in its own marked section, together with the command that measured
// them, the machine, the date and the commit. Sections of suites not run are left as they were, so
// `make bench SUITE=allocator` refreshes one section only.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

const docPath = "docs/benchmarks.md"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	selected, err := selectSuites(args)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(docPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if len(doc) == 0 {
		doc = []byte(docHeader)
	}
	env := describeMachine()
	for i, s := range selected {
		fmt.Fprintf(os.Stderr, "benchreport: suite %s (%d/%d): %s\n", s.name, i+1, len(selected), s.commandLine())
		start := time.Now()
		out, err := s.run()
		if err != nil {
			return fmt.Errorf("suite %s: %w\n%s", s.name, err, out)
		}
		results := parseBench(out)
		if len(results) == 0 {
			return fmt.Errorf("suite %s: no benchmark ran\n%s", s.name, out)
		}
		fmt.Fprintf(os.Stderr, "benchreport: suite %s done in %s, %d benchmarks\n", s.name, time.Since(start).Round(time.Second), len(results))
		doc = replaceSection(doc, s.name, renderSection(s, env, results))
	}
	return os.WriteFile(docPath, doc, 0o644)
}

func selectSuites(args []string) ([]suite, error) {
	if len(args) == 0 {
		return suites, nil
	}
	var out []suite
	for _, a := range args {
		found := false
		for _, s := range suites {
			if s.name == a {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			names := make([]string, len(suites))
			for i, s := range suites {
				names[i] = s.name
			}
			return nil, fmt.Errorf("unknown suite %q; known: %s", a, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func (s suite) command() []string {
	count := s.count
	if count == 0 {
		count = 1
	}
	cmd := []string{"go", "test", "-run", "^$", "-bench", s.bench, "-benchmem", "-count", fmt.Sprint(count)}
	if s.tags != "" {
		cmd = append(cmd, "-tags", s.tags)
	}
	cmd = append(cmd, s.extra...)
	return append(cmd, s.pkg)
}

// commandLine is command as a shell runs it, the suite's env first.
func (s suite) commandLine() string {
	return strings.Join(append(slices.Clone(s.env), s.command()...), " ")
}

func (s suite) run() ([]byte, error) {
	if s.root && os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root (network namespaces)")
	}
	argv := s.command()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	if s.k8sBins && os.Getenv("FRONTDESK_K8S_BIN") == "" {
		dir, err := exec.Command("bash", "hack/k8s/build.sh", "--print-dir").Output()
		if err != nil {
			return nil, fmt.Errorf("locating the control-plane binaries (run make k8s-tools): %w", err)
		}
		cmd.Env = append(cmd.Env, "FRONTDESK_K8S_BIN="+strings.TrimSpace(string(dir)))
	}
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.Bytes(), err
}

// machine is what a reader needs to compare figures across runs.
type machine struct {
	cpu, goVersion, commit, date string
	cores                        int
}

func describeMachine() machine {
	m := machine{cpu: "unknown CPU", goVersion: runtime.Version(), cores: runtime.NumCPU(),
		date: time.Now().UTC().Format("2006-01-02")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	m.commit = "uncommitted"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			m.commit += " (with local changes)"
		}
	}
	return m
}

const docHeader = `# Benchmarks

Every figure here was measured by ` + "`make bench`" + ` (or ` + "`make bench SUITE=<name>`" + ` for one section),
which runs the command shown in each section and rewrites that section. Targets and the public anchors
they are set against are in the project's targets document; tests assert only generous bounds, the
real figures live here. Figures are the median over the runs, with the spread (min–max).
`
