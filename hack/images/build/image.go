// Package build turns a list of image specifications into OCI archives: it gathers each layer's
// files (Go builds, Debian packages, cached Kubernetes binaries), names and labels the image, and
// hands it to package oci. hack/images holds the list; docs/images.md says what is in each image.
package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
)

// Image is one image: data only, so adding an image is adding one of these.
type Image struct {
	// Name is a short name: busybox, hashicorp/http-echo, frontdesk-lb/frontdesk-controller.
	Name string
	// Local images are frontdesk's own, named under the registry given to the build (localhost
	// by default). Others are named as Pods name them: the short name, normalized.
	Local bool
	// Tags name the image; the first is the main one. Empty means the product version.
	Tags        []Tag
	Title       string
	Description string
	Entrypoint  []string
	Cmd         []string
	Env         []string
	User        string
	// Layers of the image, bottom first: a layer is the files of its sources. Images sharing a
	// layer's sources share the layer's digest, stored once by a runtime.
	Layers []Layer
	// Labels added to the standard ones.
	Labels map[string]string
}

// Layer is the files of one layer.
type Layer []Source

// Tag computes one tag of an image.
type Tag func(ctx context.Context, r *run) (string, error)

// Fixed is a literal tag, such as latest.
func Fixed(tag string) Tag { return func(context.Context, *run) (string, error) { return tag, nil } }

// Version is the product version given to the build (git describe).
func Version() Tag {
	return func(_ context.Context, r *run) (string, error) { return r.cfg.Version, nil }
}

// ModuleVersion is the version a module (dir, relative to the repository) requires of mod, such
// as the Kubernetes version hack/k8s builds.
func ModuleVersion(dir, mod string) Tag {
	return func(ctx context.Context, r *run) (string, error) {
		m, err := r.module(ctx, dir, mod)
		return m.Version, err
	}
}

// ModuleFile is the first line of a file of that module, such as agnhost's VERSION.
func ModuleFile(dir, mod, file string) Tag {
	return func(ctx context.Context, r *run) (string, error) {
		m, err := r.module(ctx, dir, mod)
		if err != nil {
			return "", err
		}
		return firstLine(filepath.Join(m.Dir, filepath.FromSlash(file)))
	}
}

// DebianUpstream is the upstream part of a Debian package's version (1.35.0 of 1:1.35.0-4).
func DebianUpstream(pkg string) Tag {
	return func(ctx context.Context, r *run) (string, error) {
		_, v, err := r.debs.unpack(ctx, pkg)
		if err != nil {
			return "", err
		}
		if _, after, ok := strings.Cut(v, ":"); ok {
			v = after
		}
		if i := strings.LastIndex(v, "-"); i > 0 {
			v = v[:i]
		}
		return v, nil
	}
}

type module struct{ Version, Dir string }

// module downloads (if needed) the version of mod that the module in dir requires.
func (r *run) module(ctx context.Context, dir, mod string) (module, error) {
	key := dir + " " + mod
	if m, ok := r.modules[key]; ok {
		return m, nil
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = filepath.Join(r.cfg.Repo, dir)
	out, err := cmd.Output()
	if err != nil {
		return module{}, fmt.Errorf("go mod download %s in %s: %w", mod, cmd.Dir, err)
	}
	var m module
	if err := json.Unmarshal(out, &m); err != nil {
		return module{}, err
	}
	r.modules[key] = m
	return m, nil
}

// names turns the image's name and tags into full references.
func (r *run) names(ctx context.Context, im Image) ([]string, error) {
	name := im.Name
	if im.Local {
		name = r.cfg.Registry + "/" + name
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", name, err)
	}
	tags := im.Tags
	if len(tags) == 0 {
		tags = []Tag{Version()}
	}
	var out []string
	for _, t := range tags {
		tag, err := t(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("%s: tag: %w", im.Name, err)
		}
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: tag %q: %w", im.Name, tag, err)
		}
		out = append(out, tagged.String())
	}
	return out, nil
}

// Variable is a tag given by a variable (--file NAME=VALUE or the environment), or def.
func Variable(name, def string) Tag {
	return func(_ context.Context, r *run) (string, error) {
		if v := r.lookup(name); v != "" {
			return v, nil
		}
		return def, nil
	}
}

// lookup reads a variable given on the command line, else from the environment.
func (r *run) lookup(name string) string {
	if v := r.cfg.Vars[name]; v != "" {
		return v
	}
	return os.Getenv(name)
}
