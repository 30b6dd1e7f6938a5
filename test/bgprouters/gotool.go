//go:build linux

package bgprouters

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var goTools sync.Map // name → path, once built in this process

// GoTool returns the path of a tool pinned in hack/tools/go.mod (gobgp, gobgpd), built by
// `go tool -modfile=hack/tools/go.mod -n NAME` (the build cache makes a rebuild a lookup). The
// go.mod is found by walking up from the working directory, which go test sets to the package's.
func GoTool(t testing.TB, name string) string {
	t.Helper()
	if p, ok := goTools.Load(name); ok {
		return p.(string)
	}
	mod := toolsModule(t)
	out, err := exec.Command("go", "tool", "-modfile="+mod, "-n", name).Output()
	if err != nil {
		var msg []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			msg = ee.Stderr
		}
		t.Fatalf("building %s (go tool -modfile=%s -n %s): %v\n%s", name, mod, name, err, msg)
	}
	p := strings.TrimSpace(string(out))
	goTools.Store(name, p)
	return p
}

func toolsModule(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "hack", "tools", "go.mod")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if d == filepath.Dir(d) {
			t.Fatalf("no hack/tools/go.mod in %s or above", wd)
			return ""
		}
	}
}
