// Command run is make conformance: the tests of test/conformance/tests.txt against a lab with
// frontdesk's node proxy and load balancers, then against a lab with the real kube-proxy (the
// baseline), each lab started for its run and removed after it; then the results section of
// docs/conformance.md. See test/conformance/README.md.
//
// Run from the repository root, after make conformance-tools and make conformance-images (make
// conformance does both; the lab's images of this commit are made here unless they are there):
//
//	go run ./test/conformance/run [--proxies=frontdesk,kube-proxy] [--focus=REGEXP]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/test/conformance"
)

func main() {
	var o options
	flag.StringVar(&o.proxies, "proxies", supervisor.ProxyFrontdesk+","+supervisor.ProxyKubeProxy, "the node proxies to run with, in order, comma-separated")
	flag.StringVar(&o.focus, "focus", "", "run only the tests of tests.txt whose names match this regexp (the docs are then left alone)")
	flag.IntVar(&o.nodes, "nodes", 3, "lab nodes")
	flag.IntVar(&o.procs, "procs", 4, "ginkgo processes running tests side by side")
	flag.StringVar(&o.out, "out", "bin/conformance", "folder of the runs' reports, logs and image links: <out>/<proxy>/")
	flag.StringVar(&o.lab, "lab-name", "fdconf", "the labs' name (one lab at a time)")
	flag.BoolVar(&o.keep, "keep-lab", false, "leave the last lab running")
	flag.StringVar(&o.doc, "doc", "docs/conformance.md", "the document whose results section is rewritten after a run of every test with every proxy")
	flag.BoolVar(&o.docOnly, "doc-only", false, "run nothing: rewrite the results section from the reports in --out")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

type options struct {
	proxies, focus, out, lab, doc string
	nodes, procs                  int
	keep, docOnly                 bool
}

func run(ctx context.Context, o options) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	list, err := conformance.LoadList(repo)
	if err != nil {
		return err
	}
	tests, err := pick(list, o.focus)
	if err != nil {
		return err
	}
	k8sBin, err := supervisor.K8sBinDir(repo)
	if err != nil {
		return err
	}
	if !o.docOnly {
		// The lab's images of this commit, made unless they are there, as make lab does.
		if err := supervisor.PrepareImages(ctx, supervisor.Options{Repo: repo, Images: supervisor.ImagesDir(repo), Out: os.Stdout}); err != nil {
			return err
		}
	}
	proxies := strings.Split(o.proxies, ",")
	var runs []conformance.Proxied
	for i, p := range proxies {
		dir := filepath.Join(o.out, p)
		if !o.docOnly {
			r := conformance.Run{Proxy: p, Tests: tests, Nodes: o.nodes, Procs: o.procs, LabName: o.lab, Repo: repo,
				Lab: filepath.Join(repo, "bin", "frontdesk-lab"), K8sBin: k8sBin,
				Images: []string{supervisor.ImagesDir(repo), filepath.Join(repo, "bin", "conformance-images")},
				Out:    dir, KeepLab: o.keep && i == len(proxies)-1, HelmSets: conformance.LabHelmSets, Progress: os.Stdout}
			if _, err := r.Do(ctx); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		pr, err := conformance.ReadRun(dir)
		if err != nil {
			return err
		}
		runs = append(runs, pr)
		fmt.Printf("conformance [%s]: %s\n", p, conformance.Tally(list, pr)[""])
	}
	if len(runs) == 2 {
		if reg := conformance.Regressions(list, runs[1], runs[0]); len(reg) > 0 {
			fmt.Printf("%d tests pass with %s and not with %s:\n  %s\n", len(reg), proxies[1], proxies[0], strings.Join(reg, "\n  "))
		}
	}
	if o.focus != "" || o.doc == "" {
		return nil
	}
	if err := conformance.RewriteDoc(o.doc, list, runs); err != nil {
		return err
	}
	fmt.Println("wrote the results section of", o.doc)
	return nil
}

// pick returns the tests of the list whose names match focus (all when it is empty).
func pick(l conformance.List, focus string) ([]string, error) {
	re, err := regexp.Compile(focus)
	if err != nil {
		return nil, fmt.Errorf("--focus: %w", err)
	}
	var out []string
	for _, g := range l.Groups {
		for _, t := range g.Tests {
			if re.MatchString(t) {
				out = append(out, t)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--focus matches no test of tests.txt")
	}
	return out, nil
}
