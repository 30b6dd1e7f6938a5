package conformance

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

func TestExactFocusMatchesWholeNamesOnly(t *testing.T) {
	re := regexp.MustCompile(ExactFocus([]string{"[sig-network] Services should a", "[sig-network] DNS should (b) [Conformance]"}))
	for name, want := range map[string]bool{
		"Kubernetes e2e suite [sig-network] Services should a":                      true,
		"Kubernetes e2e suite [sig-network] DNS should (b) [Conformance]":           true,
		"Kubernetes e2e suite [sig-network] Services should a and more":             false, // a longer name
		"Kubernetes e2e suite [sig-network] Services should ab":                     false,
		"Kubernetes e2e suite x[sig-network] Services should a":                     false, // within a longer name
		"Kubernetes e2e suite [sig-network] DNS should b [Conformance]":             false, // ( ) are literal
		"Kubernetes e2e suite [sig-network] DNS should (b) [Conformance] [Serial]":  false,
		"Kubernetes e2e suite [sig-network] Services should a [sig-network] Other":  false,
		"Kubernetes e2e suite [sig-network] Services should a|[sig-network] Other":  false,
		"Kubernetes e2e suite [sig-network] Services should a\n[sig-network] Other": false,
	} {
		if got := re.MatchString(name); got != want {
			t.Errorf("%q matches %q: %t, want %t", re, name, got, want)
		}
	}
}

// TestLinkImages: the e2e tests' archives join the lab's; one holding the same image names
// replaces the lab's (agnhost), one whose file name is taken by other images is renamed
// (busybox), and the folder is rebuilt from scratch each time.
func TestLinkImages(t *testing.T) {
	lab, e2e := t.TempDir(), t.TempDir()
	ociArchive(t, filepath.Join(lab, "agnhost.tar"), "e2e-test-images/agnhost:2.66.1")
	ociArchive(t, filepath.Join(lab, "busybox.tar"), "library/busybox:1.35.0", "library/busybox:latest")
	ociArchive(t, filepath.Join(lab, "pause.tar"), "pause:3.10.2")
	ociArchive(t, filepath.Join(e2e, "agnhost.tar"), "e2e-test-images/agnhost:2.66.1")
	ociArchive(t, filepath.Join(e2e, "busybox.tar"), "e2e-test-images/busybox:1.37.0-2")
	ociArchive(t, filepath.Join(e2e, "nginx.tar"), "e2e-test-images/nginx:1.27.0-2")
	dir := filepath.Join(t.TempDir(), "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale.tar"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LinkImages(dir, []string{lab, e2e}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = target
	}
	want := map[string]string{
		"agnhost.tar":   filepath.Join(e2e, "agnhost.tar"),
		"busybox.tar":   filepath.Join(lab, "busybox.tar"),
		"1-busybox.tar": filepath.Join(e2e, "busybox.tar"),
		"nginx.tar":     filepath.Join(e2e, "nginx.tar"),
		"pause.tar":     filepath.Join(lab, "pause.tar"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if err := LinkImages(dir, []string{lab, t.TempDir()}); err == nil {
		t.Error("a folder without archives was accepted")
	}
}

// ociArchive writes a tar holding only an OCI index.json that names the images, as
// kubenode.ArchiveImageNames reads it.
func ociArchive(t *testing.T, path string, names ...string) {
	t.Helper()
	type manifest struct {
		Annotations map[string]string `json:"annotations"`
	}
	var index struct {
		Manifests []manifest `json:"manifests"`
	}
	for _, n := range names {
		index.Manifests = append(index.Manifests, manifest{map[string]string{"io.containerd.image.name": n}})
	}
	b, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "index.json", Mode: 0o644, Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadSubset(t *testing.T) {
	l := List{Groups: []ListGroup{{Name: "a", Tests: []string{"[sig-network] A x", "[sig-network] A y"}}, {Name: "b", Tests: []string{"[sig-network] B z"}}}}
	got, err := ReadSubset(strings.NewReader("# why these\n[sig-network] A y\n\n[sig-network] B z  \n"), l)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"[sig-network] A y", "[sig-network] B z"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{
		"[sig-network] A q\n":                    `"[sig-network] A q" is not a test of tests.txt`,
		"[sig-network] A x\n[sig-network] A x\n": "listed twice",
		"# nothing\n":                            "no test listed",
	} {
		if _, err := ReadSubset(strings.NewReader(in), l); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadSubset(%q): %v, want an error saying %q", in, err, want)
		}
	}
}

// TestCommittedSubset: every test of the committed subset is one of tests.txt.
func TestCommittedSubset(t *testing.T) {
	l, err := LoadList("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSubset("../..", l); err != nil {
		t.Fatal(err)
	}
}

// frontdesk's labs put the node proxy where the kube-proxy restart test looks for it; the
// kube-proxy labs change nothing (their kube-proxy Pods are the ones it restarts).
func TestProxyLabArgs(t *testing.T) {
	got := ProxyLabArgs(supervisor.ProxyFrontdesk)
	want := []string{"--chart-namespace=kube-system", "--helm-set=speaker.podLabels.k8s-app=kube-proxy"}
	if !slices.Equal(got, want) {
		t.Errorf("frontdesk: %q, want %q", got, want)
	}
	if got := ProxyLabArgs(supervisor.ProxyKubeProxy); len(got) != 0 {
		t.Errorf("kube-proxy: %q, want none", got)
	}
}
