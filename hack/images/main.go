// Command images builds frontdesk's container images and the lab's workload images as OCI
// archives (bin/images/<name>.tar) from static Go binaries and files of Debian packages, with no
// registry and no daemon. `make images` runs it; docs/images.md explains the images.
//
//	go run ./hack/images [flags] [image ...]   (no image: every image)
//
// --conformance builds another list instead: the images only Kubernetes' e2e tests use
// (test/conformance/README.md), which the lab and make test never build.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/frontdesk-lb/frontdesk/hack/images/build"
)

// source is the project's repository, for org.opencontainers.image.source.
const source = "https://github.com/frontdesk-lb/frontdesk"

func main() { os.Exit(run()) }

func run() int {
	home, _ := os.UserHomeDir()
	cache := os.Getenv("FRONTDESK_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "frontdesk")
	}
	arch := os.Getenv("GOARCH")
	if arch == "" {
		arch = runtime.GOARCH
	}
	cfg := build.Config{Source: source, Log: os.Stderr, Vars: map[string]string{}}
	var epoch string
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.StringVar(&cfg.Repo, "repo", ".", "the repository's root")
	fs.StringVar(&cfg.Out, "out", "bin/images", "folder of the archives")
	fs.StringVar(&cfg.Cache, "cache", cache, "cache folder: Debian packages go into <cache>/debs")
	fs.StringVar(&cfg.Registry, "registry", "localhost", "registry part of frontdesk's own image names")
	fs.StringVar(&cfg.Version, "version", "", "product version: frontdesk images' tag (required; make images passes git describe)")
	fs.StringVar(&cfg.Revision, "revision", "", "the commit, for org.opencontainers.image.revision")
	fs.StringVar(&epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "seconds since 1970: every file's time and the images' creation time (the commit's date)")
	fs.StringVar(&cfg.Arch, "arch", arch, "GOARCH of the images (linux only)")
	fs.StringVar(&cfg.GoLDFlags, "go-ldflags", "", "-ldflags of the Go builds: the version variables (-s -w is added)")
	fs.StringVar(&cfg.K8sBinDir, "k8s-bin", "", "folder holding kube-proxy and agnhost (default: run hack/k8s/build.sh, which builds what its cache lacks)")
	fs.StringVar(&cfg.LockFile, "lock", "hack/images/debian.lock", "Debian package versions to use when still served")
	fs.BoolVar(&cfg.WriteLock, "write-lock", false, "rewrite the lock file with the versions used")
	conformance := fs.Bool("conformance", false, "build the conformance set instead (the images only Kubernetes' e2e tests use, test/conformance; make conformance-images)")
	fs.Func("set", "NAME=VALUE: a variable of the image list, such as FRONTDESK_COREDNS=/path/to/coredns (repeatable; the environment is read too)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want NAME=VALUE", v)
		}
		cfg.Vars[k] = val
		return nil
	})
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	cfg.Only = fs.Args()
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || cfg.Version == "" {
		fmt.Fprintln(os.Stderr, "images: --version and --source-date-epoch (or $SOURCE_DATE_EPOCH) are required; make images sets them from git")
		return 2
	}
	cfg.Created = time.Unix(secs, 0).UTC()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	list := images
	if *conformance {
		list = conformanceImages
	}
	results, err := build.Run(ctx, cfg, list)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		return 1
	}
	for _, r := range results {
		if r.Skipped != "" {
			fmt.Printf("%-28s skipped: %s\n", r.Name, r.Skipped)
			continue
		}
		fmt.Printf("%-28s %s %7.1f MB  %s\n", r.Archive, r.Digest, float64(r.Size)/1e6, strings.Join(r.Names, " "))
	}
	return 0
}
