package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FindRepo returns the frontdesk checkout holding dir: the nearest parent with hack/k8s/build.sh.
func FindRepo(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if exists(filepath.Join(d, "hack/k8s/build.sh")) && exists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a frontdesk checkout (no hack/k8s/build.sh above it): run from the repository or pass --repo", dir)
		}
	}
}

// K8sBinDir is the folder hack/k8s/build.sh builds the pinned Kubernetes binaries into.
func K8sBinDir(repo string) (string, error) {
	if d := os.Getenv("FRONTDESK_K8S_BIN"); d != "" {
		return d, nil
	}
	cmd := exec.Command("bash", filepath.Join(repo, "hack/k8s/build.sh"), "--print-dir")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return strings.TrimSpace(string(out)), nil
}

// NodeBinDir is the folder lab/tools/node-build.sh builds containerd, crictl and the CNI plugins
// into.
func NodeBinDir(repo string) (string, error) {
	cmd := exec.Command("bash", filepath.Join(repo, NodeBuild), "--print-dir")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return strings.TrimSpace(string(out)), nil
}

// NodeBuild builds what a node runs besides the kubelet.
const NodeBuild = "lab/tools/node-build.sh"

// ImagesDir is where make images writes its OCI archives.
func ImagesDir(repo string) string { return filepath.Join(repo, "bin", "images") }
