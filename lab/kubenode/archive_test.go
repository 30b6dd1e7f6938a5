package kubenode

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeArchive(t *testing.T, index string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for name, body := range map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": index} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArchiveImageNames(t *testing.T) {
	for _, tc := range []struct {
		name, index string
		want        []string
		wantErr     bool
	}{
		{name: "containerd's annotation", index: `{"manifests":[{"annotations":{"io.containerd.image.name":"example.test/library/pause:3.10.2","org.opencontainers.image.ref.name":"3.10.2"}}]}`,
			want: []string{"example.test/library/pause:3.10.2"}},
		{name: "a full OCI ref name", index: `{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"example.test/library/busybox:latest"}}]}`,
			want: []string{"example.test/library/busybox:latest"}},
		{name: "a tag only", index: `{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`, wantErr: true},
		{name: "not JSON", index: `{`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ArchiveImageNames(writeArchive(t, tc.index))
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("ArchiveImageNames = %v, %v; want %v (error: %t)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
