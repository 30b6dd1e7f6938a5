package kubenode

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Annotations naming an image in an OCI archive's index.json: containerd's full name, and the
// OCI one (a full name, or only a tag in some writers).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ArchiveImageNames returns the image names an OCI archive (an OCI image layout in a tar) holds,
// as `ctr images import` will name them: from index.json's annotations.
func ArchiveImageNames(archive string) ([]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no index.json: not an OCI archive", archive)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		if path.Clean(h.Name) != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			return nil, fmt.Errorf("%s: index.json: %w", archive, err)
		}
		var names []string
		for _, m := range index.Manifests {
			if n := m.Annotations[annotationContainerdName]; n != "" {
				names = append(names, n)
			} else if n := m.Annotations[annotationRefName]; strings.ContainsAny(n, "/:") {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: index.json names no image", archive)
		}
		return names, nil
	}
}

// Repository is the last element of an image name's path, without tag or digest: "pause" for
// any registry's .../pause:3.10.2.
func Repository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	last := image[strings.LastIndexByte(image, '/')+1:]
	if i := strings.IndexByte(last, ':'); i >= 0 {
		last = last[:i]
	}
	return last
}
