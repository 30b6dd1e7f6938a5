package oci

import (
	"fmt"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is what an image is built from.
type Image struct {
	// Names are the full references the archive names the image by, such as
	// localhost/frontdesk-lb/frontdesk-controller:v0.1.0. The first is the main one.
	Names []string
	// Created is the time of every file and of the image; the commit's date makes it reproducible.
	Created time.Time
	// OS and Architecture are GOOS and GOARCH values (linux, amd64).
	OS, Architecture string
	Entrypoint       []string
	Cmd              []string
	Env              []string
	User             string
	WorkingDir       string
	StopSignal       string
	// Labels go into the image configuration and, as annotations, into the manifest.
	Labels map[string]string
	Layers []Layer
}

// Built is an image made by Build.
type Built struct {
	Names []string
	img   v1.Image
}

// Build assembles the image: one layer per Layer, the configuration, the manifest.
func Build(im Image) (*Built, error) {
	if len(im.Names) == 0 {
		return nil, fmt.Errorf("an image needs a name")
	}
	created := v1.Time{Time: im.Created.UTC()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := make([]mutate.Addendum, 0, len(im.Layers))
	for _, l := range im.Layers {
		layer, err := buildLayer(l, created.Time)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", im.Names[0], err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: created, CreatedBy: l.Comment, Comment: "frontdesk hack/images"},
		})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS = im.OS
	cf.Architecture = im.Architecture
	cf.Config = v1.Config{
		Entrypoint: im.Entrypoint,
		Cmd:        im.Cmd,
		Env:        im.Env,
		User:       im.User,
		WorkingDir: im.WorkingDir,
		StopSignal: im.StopSignal,
		Labels:     maps.Clone(im.Labels),
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	if len(im.Labels) > 0 {
		var ok bool
		if img, ok = mutate.Annotations(img, maps.Clone(im.Labels)).(v1.Image); !ok {
			return nil, fmt.Errorf("%s: annotating the manifest did not give an image", im.Names[0])
		}
	}
	return &Built{Names: im.Names, img: img}, nil
}

// Digest is the manifest's digest, sha256:....
func (b *Built) Digest() (string, error) {
	h, err := b.img.Digest()
	return h.String(), err
}

// Size is the archive's payload: manifest, configuration and compressed layers, in bytes.
func (b *Built) Size() (int64, error) {
	m, err := b.img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := b.img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
