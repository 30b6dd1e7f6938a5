package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/frontdesk-lb/frontdesk/hack/images/oci"
)

// Config is what a build needs besides the list of images.
type Config struct {
	Repo     string // the repository's root
	Out      string // where archives go: bin/images
	Cache    string // ~/.cache/frontdesk: Debian packages
	Registry string // prefix of Local images' names: localhost
	Version  string // the product version and default tag (git describe)
	Revision string // the commit
	Source   string // the repository's URL, for org.opencontainers.image.source
	// Created is the commit's date: every file's time and the images' creation time.
	Created time.Time
	Arch    string // GOARCH of the images (linux only)
	// GoLDFlags are the version -ldflags of Go builds (-s -w is added).
	GoLDFlags string
	// K8sBinDir holds kube-proxy and agnhost; empty runs hack/k8s/build.sh, which builds what is
	// missing and prints it.
	K8sBinDir string
	// Vars are variables given on the command line (NAME=VALUE), read before the environment:
	// File sources' paths and Variable tags.
	Vars map[string]string
	// LockFile pins Debian package versions; WriteLock rewrites it with those used.
	LockFile  string
	WriteLock bool
	// Only builds the images of these names (the archive's base name or the short name).
	Only []string
	Log  io.Writer
}

// Result is one image's outcome.
type Result struct {
	Name     string   // short name
	Names    []string // full references
	Archive  string
	Digest   string // manifest digest
	Size     int64  // manifest, configuration and compressed layers
	Packages map[string]string
	Skipped  string // why the image was not built, if it was not
}

// versionPattern is what k8s.io/component-base/metrics requires of gitVersion, which the Go
// builds' -ldflags set to the product version.
var versionPattern = regexp.MustCompile(`^v\d+\.\d+\.\d+`)

type run struct {
	cfg     Config
	debs    *debian
	modules map[string]module
	k8sDir  string
	pkgs    map[string]string // Debian packages of the image being built
}

// Run builds the images into cfg.Out, one archive each, printing progress to cfg.Log. An image
// whose inputs are not available here (a File with no path) is skipped and reported as such.
func Run(ctx context.Context, cfg Config, images []Image) ([]Result, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if !versionPattern.MatchString(cfg.Version) {
		return nil, fmt.Errorf("version %q must start with vX.Y.Z: component-base's metrics registry, which frontdesk-controller and frontdesk-speaker use, parses it so and panics otherwise", cfg.Version)
	}
	lock, err := readLock(cfg.LockFile)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, debs: newDebian(cfg.Cache, cfg.Arch, lock, cfg.Log), modules: map[string]module{}}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	var todo []Image
	for _, im := range images {
		if len(cfg.Only) == 0 || slices.Contains(cfg.Only, im.Name) || slices.Contains(cfg.Only, path.Base(im.Name)) {
			todo = append(todo, im)
		}
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("no image matches %v", cfg.Only)
	}
	var results []Result
	for i, im := range todo {
		start := time.Now()
		_, _ = fmt.Fprintf(cfg.Log, "[%d/%d] %s\n", i+1, len(todo), im.Name)
		res, err := r.build(ctx, im)
		var skip skipError
		switch {
		case errors.As(err, &skip):
			_, _ = fmt.Fprintf(cfg.Log, "  skipped: %s\n", skip.reason)
			res = Result{Name: im.Name, Skipped: skip.reason}
		case err != nil:
			return results, fmt.Errorf("%s: %w", im.Name, err)
		default:
			_, _ = fmt.Fprintf(cfg.Log, "  %s  %s  %.1f MB  %s  (%.1fs)\n", res.Archive, res.Digest, float64(res.Size)/1e6, res.Names[0], time.Since(start).Seconds())
		}
		results = append(results, res)
	}
	if cfg.WriteLock && cfg.LockFile != "" {
		merged := maps.Clone(lock)
		maps.Copy(merged, r.debs.used)
		if err := writeLock(cfg.LockFile, merged); err != nil {
			return results, err
		}
	}
	return results, nil
}

func (r *run) build(ctx context.Context, im Image) (Result, error) {
	r.pkgs = map[string]string{}
	var layers []oci.Layer
	for _, l := range im.Layers {
		var ol oci.Layer
		var what []string
		for _, s := range l {
			es, err := s.entries(ctx, r)
			if err != nil {
				return Result{}, err
			}
			ol.Entries = append(ol.Entries, es...)
			what = append(what, s.String())
		}
		ol.Comment = strings.Join(what, "; ")
		layers = append(layers, ol)
	}
	names, err := r.names(ctx, im)
	if err != nil {
		return Result{}, err
	}
	o := oci.Image{
		Names:        names,
		Created:      r.cfg.Created,
		OS:           "linux",
		Architecture: r.cfg.Arch,
		Entrypoint:   im.Entrypoint,
		Cmd:          im.Cmd,
		Env:          im.Env,
		User:         im.User,
		Labels:       r.labels(im, names[0]),
		Layers:       layers,
	}
	built, err := oci.Build(o)
	if err != nil {
		return Result{}, err
	}
	res := Result{Name: im.Name, Names: names, Packages: maps.Clone(r.pkgs),
		Archive: filepath.Join(r.cfg.Out, path.Base(im.Name)+".tar")}
	if res.Digest, err = built.Digest(); err != nil {
		return res, err
	}
	if res.Size, err = built.Size(); err != nil {
		return res, err
	}
	return res, writeFile(res.Archive, func(w io.Writer) error { return built.WriteArchive(w, r.cfg.Created) })
}

// labels are the standard OCI ones, the Debian packages the image holds, and the image's own.
func (r *run) labels(im Image, mainName string) map[string]string {
	version := r.cfg.Version
	if _, tag, ok := strings.Cut(path.Base(mainName), ":"); ok {
		version = tag
	}
	l := map[string]string{
		"org.opencontainers.image.source":      r.cfg.Source,
		"org.opencontainers.image.revision":    r.cfg.Revision,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.created":     r.cfg.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.title":       im.Title,
		"org.opencontainers.image.description": im.Description,
	}
	if len(r.pkgs) > 0 {
		var p []string
		for _, k := range slices.Sorted(maps.Keys(r.pkgs)) {
			p = append(p, k+"="+r.pkgs[k])
		}
		l["dev.frontdesk.debian-packages"] = strings.Join(p, ",")
	}
	maps.Copy(l, im.Labels)
	return l
}

// unpack returns the unpacked trees of Debian packages and records their versions in the image.
func (r *run) unpack(ctx context.Context, pkgs ...string) ([]string, error) {
	var roots []string
	for _, p := range pkgs {
		dir, v, err := r.debs.unpack(ctx, p)
		if err != nil {
			return nil, err
		}
		roots = append(roots, dir)
		r.pkgs[p] = v
	}
	return roots, nil
}

// k8sBinDir runs hack/k8s/build.sh once (it builds only what its cache lacks) unless the
// folder was given.
func (r *run) k8sBinDir(ctx context.Context) (string, error) {
	if r.cfg.K8sBinDir != "" {
		return r.cfg.K8sBinDir, nil
	}
	if r.k8sDir == "" {
		_, _ = fmt.Fprintln(r.cfg.Log, "  hack/k8s/build.sh (pinned Kubernetes binaries; the first build takes about 10 minutes)")
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.cfg.Repo, "hack", "k8s", "build.sh"))
		cmd.Stderr = r.cfg.Log
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("hack/k8s/build.sh: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		r.k8sDir = lines[len(lines)-1]
	}
	return r.k8sDir, nil
}

func firstLine(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s is empty", p)
	}
	return line, nil
}

// writeFile writes through a temporary file renamed at the end: no half archive is left behind.
func writeFile(p string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
