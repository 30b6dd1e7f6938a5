package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var created = time.Date(2026, 12, 6, 7, 11, 42, 0, time.UTC)

// small is a two-layer image: a shared base and a binary, as the spec's images are.
func small() Image {
	return Image{
		Names:        []string{"localhost/frontdesk-lb/test:v1", "localhost/frontdesk-lb/test:latest"},
		Created:      created,
		OS:           "linux",
		Architecture: "amd64",
		Entrypoint:   []string{"/usr/local/bin/app"},
		Cmd:          []string{"--flag"},
		User:         "65532:65532",
		Labels:       map[string]string{"org.opencontainers.image.title": "test"},
		Layers: []Layer{
			{Comment: "base", Entries: []Entry{
				File("/etc/passwd", 0o644, []byte("root:x:0:0::/root:/sbin/nologin\n")),
				{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
				Symlink("/bin/sh", "/bin/busybox"),
			}},
			{Comment: "app", Entries: []Entry{File("/usr/local/bin/app", 0o755, []byte("\x7fELF not really"))}},
		},
	}
}

func TestBuildIsReproducible(t *testing.T) {
	a, err := Build(small())
	if err != nil {
		t.Fatal(err)
	}
	// The same input, with the entries of a layer in another order.
	im := small()
	e := im.Layers[0].Entries
	e[0], e[2] = e[2], e[0]
	b, err := Build(im)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds of one input: digests %s and %s", da, db)
	}
	var wa, wb bytes.Buffer
	if err := a.WriteArchive(&wa, created); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteArchive(&wb, created); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wa.Bytes(), wb.Bytes()) {
		t.Error("two archives of one input differ")
	}

	// A different time is a different image: the check above can fail.
	im = small()
	im.Created = created.Add(time.Second)
	c, err := Build(im)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Error("a different creation time gave the same digest")
	}
}

func TestConfigAndLayers(t *testing.T) {
	b, err := Build(small())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := b.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := v1.Config{
		Entrypoint: []string{"/usr/local/bin/app"},
		Cmd:        []string{"--flag"},
		User:       "65532:65532",
		Labels:     map[string]string{"org.opencontainers.image.title": "test"},
	}
	if diff := cmp.Diff(wantCfg, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cf.Architecture != "amd64" || cf.OS != "linux" || !cf.Created.Equal(created) {
		t.Errorf("platform %s/%s created %v, want linux/amd64 %v", cf.OS, cf.Architecture, cf.Created.Time, created)
	}
	if len(cf.History) != 2 || cf.History[1].CreatedBy != "app" {
		t.Errorf("history %+v, want base then app", cf.History)
	}
	m, err := b.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations["org.opencontainers.image.title"] != "test" {
		t.Errorf("manifest annotations %v, want the labels", m.Annotations)
	}

	layers, err := b.img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, Link string
		Type       byte
		Mode       int64
		UID        int
		Size       int64
		Time       time.Time
	}
	var got []row
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row{h.Name, h.Linkname, h.Typeflag, h.Mode, h.Uid, h.Size, h.ModTime.UTC()})
	}
	want := []row{
		{Name: "bin/", Type: tar.TypeDir, Mode: 0o755, Time: created},
		{Name: "bin/sh", Link: "/bin/busybox", Type: tar.TypeSymlink, Mode: 0o777, Time: created},
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755, Time: created},
		{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Size: 32, Time: created},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777, Time: created},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("base layer (-want +got):\n%s", diff)
	}
}

func TestArchive(t *testing.T) {
	b, err := Build(small())
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := b.WriteArchive(&w, created); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	digest, _ := b.Digest()
	var names []string
	for _, d := range idx.Manifests {
		if d.Digest.String() != digest {
			t.Errorf("index entry %s, want %s", d.Digest, digest)
		}
		if d.Annotations[annotationRefName] != d.Annotations[annotationContainerd] {
			t.Errorf("annotations %v: the two names differ", d.Annotations)
		}
		names = append(names, d.Annotations[annotationContainerd])
	}
	if diff := cmp.Diff(small().Names, names); diff != "" {
		t.Errorf("index names (-want +got):\n%s", diff)
	}
	m, _ := b.img.Manifest()
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		blob, ok := files[blobPath(d.Digest)]
		if !ok || int64(len(blob)) != d.Size {
			t.Errorf("blob %s: present %v, %d bytes, want %d", d.Digest, ok, len(blob), d.Size)
		}
	}
	if _, ok := files[blobPath(mustHash(t, digest))]; !ok {
		t.Error("no manifest blob")
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	var dm []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil || len(dm) != 1 || len(dm[0].Layers) != 2 {
		t.Errorf("manifest.json %s: %v", files["manifest.json"], err)
	}
}

func TestLayerErrors(t *testing.T) {
	for name, entries := range map[string][]Entry{
		"two different files at one path": {File("/a", 0o644, []byte("1")), File("/a", 0o644, []byte("2"))},
		"a file under a file":             {File("/a", 0o644, nil), File("/a/b", 0o644, nil)},
		"the root":                        {Dir("/", 0o755)},
	} {
		if _, err := tarLayer(Layer{Comment: name, Entries: entries}, created); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// The same entry twice is fine: two sources may both bring one library.
	if _, err := tarLayer(Layer{Entries: []Entry{File("/a", 0o644, []byte("1")), File("/a", 0o644, []byte("1"))}}, created); err != nil {
		t.Errorf("one entry twice: %v", err)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
