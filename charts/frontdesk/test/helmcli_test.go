package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helmPath finds the helm CLI pinned in this module's go.mod: $FRONTDESK_HELM if set, else the
// binary hack/helm.sh builds once into the cache (about a minute the first time).
var helmPath = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("FRONTDESK_HELM"); p != "" {
		return p, nil
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join("..", "..", "..", "hack", "helm.sh"), "--print")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bash hack/helm.sh --print: %w: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
})

// runHelm runs the helm CLI with its configuration, cache and data in the test's own folders, so
// that the user's repositories and plugins play no part. It returns stdout, stderr and the error.
func runHelm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin, err := helmPath()
	if err != nil {
		t.Fatalf("the helm CLI: %v", err)
	}
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestHelmCLI runs the real helm CLI, the version this module pins, as a user would: lint and
// template with the registry set pass; template without it, or with a malformed digest, fails
// with a message that says why. -short skips it (building helm the first time takes a while).
func TestHelmCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no helm CLI")
	}
	appVersion := mustChart(t).Metadata.AppVersion
	out, stderr, err := runHelm(t, "lint", "--strict", chartDir, "--set", "image.registry="+testRegistry)
	if err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint --strict: %v\n%s%s", err, out, stderr)
	}

	out, stderr, err = runHelm(t, "template", releaseName, chartDir, "-n", releaseNS, "--set", "image.registry="+testRegistry)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		`image: "` + testRegistry + `/frontdesk-lb/frontdesk-controller:` + appVersion + `"`,
		`image: "` + testRegistry + `/frontdesk-lb/frontdesk-speaker:` + appVersion + `"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helm template: no %s in its output", want)
		}
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no registry", nil, "image.registry is required"},
		{"malformed digest", []string{"--set", "image.registry=localhost", "--set", "speaker.image.digest=sha256:abc"}, "digest"},
	} {
		_, stderr, err := runHelm(t, append([]string{"template", releaseName, chartDir}, tt.args...)...)
		if err == nil || !strings.Contains(stderr, tt.want) {
			t.Errorf("helm template, %s: err %v, stderr %q; want a failure mentioning %q", tt.name, err, stderr, tt.want)
		}
	}
}
