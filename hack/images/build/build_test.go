package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A spec of sources that need no network and no Debian archive.
func testImages() []Image {
	return []Image{
		{
			Name: "frontdesk-lb/frontdesk-test", Local: true,
			Title: "test", Description: "a test image",
			Layers: []Layer{
				{Accounts(User{Name: "nonroot", ID: 65532, Home: "/home/nonroot"}), Dirs("/tmp")},
				{File("TEST_BINARY", "/usr/local/bin/app"), Symlink("/app", "usr/local/bin/app")},
			},
			Entrypoint: []string{"/usr/local/bin/app"},
			User:       "65532:65532",
		},
		{
			Name:   "busybox",
			Tags:   []Tag{Variable("TEST_TAG", "latest")},
			Layers: []Layer{{Dirs("/tmp")}},
		},
		{
			Name:   "coredns/coredns",
			Layers: []Layer{{File("TEST_MISSING", "/coredns")}},
		},
	}
}

func testConfig(t *testing.T, out string) Config {
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Config{
		Repo: t.TempDir(), Out: out, Cache: t.TempDir(), Registry: "localhost",
		Version: "v1.2.3", Revision: "abc123", Source: "https://github.com/frontdesk-lb/frontdesk",
		Created: time.Date(2026, 12, 6, 7, 11, 42, 0, time.UTC), Arch: "amd64",
		Vars: map[string]string{"TEST_BINARY": bin, "TEST_TAG": "1.35.0"},
	}
}

func TestRunReproducibleAndNamed(t *testing.T) {
	ctx := context.Background()
	a, err := Run(ctx, testConfig(t, t.TempDir()), testImages())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(ctx, testConfig(t, t.TempDir()), testImages())
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("results %d and %d, want 3", len(a), len(b))
	}
	for i := range a {
		if a[i].Digest != b[i].Digest {
			t.Errorf("%s: two builds gave %s and %s", a[i].Name, a[i].Digest, b[i].Digest)
		}
	}
	wantNames := [][]string{
		{"localhost/frontdesk-lb/frontdesk-test:v1.2.3"},
		// The normalized short name, computed: its registry is the library's default.
		{normalized(t, "busybox") + ":1.35.0"},
		nil,
	}
	for i, w := range wantNames {
		if !slices.Equal(a[i].Names, w) {
			t.Errorf("%s: names %v, want %v", a[i].Name, a[i].Names, w)
		}
	}
	if !strings.Contains(a[2].Skipped, "TEST_MISSING") {
		t.Errorf("coredns: skipped %q, want a reason naming TEST_MISSING", a[2].Skipped)
	}
	if _, err := os.Stat(a[0].Archive); err != nil || filepath.Base(a[0].Archive) != "frontdesk-test.tar" {
		t.Errorf("archive %s: %v", a[0].Archive, err)
	}

	cfg := readConfig(t, a[0].Archive)
	for k, want := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/frontdesk-lb/frontdesk",
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.created":  "2026-12-06T07:11:42Z",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.title":    "test",
	} {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/app"}) {
		t.Errorf("user %q entrypoint %v", cfg.Config.User, cfg.Config.Entrypoint)
	}
}

func TestRunOnly(t *testing.T) {
	res, err := Run(context.Background(), func() Config {
		c := testConfig(t, t.TempDir())
		c.Only = []string{"frontdesk-test"}
		return c
	}(), testImages())
	if err != nil || len(res) != 1 || res[0].Name != "frontdesk-lb/frontdesk-test" {
		t.Fatalf("Only by base name: %v, %+v", err, res)
	}
	c := testConfig(t, t.TempDir())
	c.Only = []string{"nothing"}
	if _, err := Run(context.Background(), c, testImages()); err == nil {
		t.Error("Only naming no image: no error")
	}
	c = testConfig(t, t.TempDir())
	c.Version = "2e320b6-dirty"
	if _, err := Run(context.Background(), c, testImages()); err == nil || !strings.Contains(err.Error(), "vX.Y.Z") {
		t.Errorf("a version without vX.Y.Z: %v, want an error", err)
	}
}

// TestLibraries takes nft from the host's root, as from a package tree: the loader and every
// library ldd lists must come with it.
func TestLibraries(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/nft"); err != nil {
		t.Skip("no /usr/sbin/nft here (Debian's nftables, installed by hack/install-deps.sh)")
	}
	tr, err := newTree([]string{"/"}, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.take("/usr/sbin/nft"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tr.out {
		got = append(got, filepath.Base(e.Path))
	}
	for _, want := range []string{"nft", "ld-linux-x86-64.so.2", "libc.so.6", "libnftables.so.1", "libmnl.so.0", "libnftnl.so.11", "libjansson.so.4"} {
		if !slices.Contains(got, want) {
			t.Errorf("taking nft did not take %s; took %v", want, got)
		}
	}
	// nft alone, without its packages' libraries: an error naming what is missing.
	root := t.TempDir()
	data, err := os.ReadFile("/usr/sbin/nft")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr", "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr", "sbin", "nft"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	alone, _ := newTree([]string{root}, "amd64")
	if err := alone.take("/usr/sbin/nft"); err == nil || !strings.Contains(err.Error(), ".so") {
		t.Errorf("nft without its libraries: %v, want an error naming a library", err)
	}
}

func normalized(t *testing.T, short string) string {
	t.Helper()
	r := &run{cfg: Config{Version: "x"}, modules: map[string]module{}}
	n, err := r.names(context.Background(), Image{Name: short, Tags: []Tag{Fixed("x")}})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(n[0], ":x")
}

type configFile struct {
	Config struct {
		User       string
		Entrypoint []string
		Labels     map[string]string
	} `json:"config"`
}

// readConfig reads the image configuration out of an archive, through index.json and the manifest.
func readConfig(t *testing.T, archive string) configFile {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var idx struct{ Manifests []struct{ Digest string } }
	var man struct{ Config struct{ Digest string } }
	var cfg configFile
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) == 0 {
		t.Fatalf("index.json: %v", err)
	}
	if err := json.Unmarshal(blob(idx.Manifests[0].Digest), &man); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(blob(man.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}
