package oci

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of index.json naming an image. ref.name is the OCI image-layout's; podman and
// skopeo read it. containerd's importer reads its own, which takes precedence there; a full
// name in both makes every tool name the image the same.
const (
	annotationRefName    = "org.opencontainers.image.ref.name"
	annotationContainerd = "io.containerd.image.name"
)

// dockerManifest is one entry of manifest.json, the docker-archive index that `docker save`
// writes beside index.json since Docker 25. Older docker load reads only this file.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes the image as a tar of an OCI image layout: oci-layout, index.json (one
// entry per name, all pointing to the one manifest), blobs/sha256/..., and manifest.json.
// Entries are in a fixed order with fixed times, so equal images give equal archives.
func (b *Built) WriteArchive(w io.Writer, mtime time.Time) error {
	raw, err := b.img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := b.img.Digest()
	if err != nil {
		return err
	}
	m, err := b.img.Manifest()
	if err != nil {
		return err
	}
	cfg, err := b.img.RawConfigFile()
	if err != nil {
		return err
	}

	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, n := range b.Names {
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType:   types.OCIManifestSchema1,
			Digest:      digest,
			Size:        int64(len(raw)),
			Annotations: map[string]string{annotationRefName: n, annotationContainerd: n},
		})
	}
	index, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	dm := dockerManifest{Config: blobPath(m.Config.Digest), RepoTags: b.Names}
	for _, l := range m.Layers {
		dm.Layers = append(dm.Layers, blobPath(l.Digest))
	}
	docker, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	// Blobs in digest order; two layers with the same content are written once.
	blobs := map[v1.Hash]func() ([]byte, error){
		digest:          func() ([]byte, error) { return raw, nil },
		m.Config.Digest: func() ([]byte, error) { return cfg, nil },
	}
	layers, err := b.img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		blobs[d] = func() ([]byte, error) {
			rc, err := l.Compressed()
			if err != nil {
				return nil, err
			}
			defer func() { _ = rc.Close() }()
			return io.ReadAll(rc)
		}
	}
	keys := make([]v1.Hash, 0, len(blobs))
	for k := range blobs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		data, err := blobs[k]()
		if err != nil {
			return fmt.Errorf("reading blob %s: %w", k, err)
		}
		if err := put(blobPath(k), data); err != nil {
			return err
		}
	}
	if err := put("index.json", index); err != nil {
		return err
	}
	if err := put("manifest.json", docker); err != nil {
		return err
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
