package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// BinDirEnv names the environment variable that points the package at a
// directory holding the control-plane binaries, instead of the cache folder
// hack/k8s/build.sh fills.
const BinDirEnv = "FRONTDESK_K8S_BIN"

// buildHint is what to do when binaries are missing.
const buildHint = "run: make k8s-tools (or bash hack/k8s/build.sh)"

// Binary names, as hack/k8s/build.sh writes them.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
)

// ErrBinariesMissing is wrapped by the error returned when a control-plane
// binary cannot be found.
var ErrBinariesMissing = errors.New("control-plane binaries missing")

// BinDir returns the directory the control-plane binaries are taken from:
// $FRONTDESK_K8S_BIN if set, otherwise the cache folder that
// hack/k8s/build.sh derives from the versions pinned in hack/k8s/go.mod.
// It does not check that the binaries are there.
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	return defaultBinDir()
}

// defaultBinDir asks build.sh itself, so the script stays the one place that
// names the cache folder. The answer cannot change while tests run.
var defaultBinDir = sync.OnceValues(func() (string, error) {
	script, err := findBuildScript()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", script, "--print-dir")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s --print-dir: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
})

// findBuildScript looks for hack/k8s/build.sh above the working directory
// (go test runs in the package's directory, which is inside the repository),
// then next to this source file.
func findBuildScript() (string, error) {
	const rel = "hack/k8s/build.sh"
	var tried []string
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, rel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		tried = append(tried, "the directories above "+wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "tools", "build.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("cannot find %s in %s; set %s to the directory holding the binaries",
		rel, strings.Join(tried, " or "), BinDirEnv)
}

// checkBinaries returns the absolute paths of names in dir, or an error that
// lists every missing one and says how to build them.
func checkBinaries(dir string, names ...string) (map[string]string, error) {
	paths := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			missing = append(missing, n)
			continue
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s not found in %s; %s",
			ErrBinariesMissing, strings.Join(missing, ", "), dir, buildHint)
	}
	return paths, nil
}
