package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
)

// registryPort is the lab registry's port on the control plane's address.
const registryPort = 5000

// registryAddr is where the lab's registry listens: every node's containerd pulls from it.
func (s *supervisor) registryAddr() netip.AddrPort {
	return netip.AddrPortFrom(s.plan.ControlPlane, registryPort)
}

// registryBin is the folder of the registry and crane (lab/tools/node-build.sh builds them).
func (s *supervisor) registryBin(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(s.o.Repo, NodeBuild), "--print-registry-dir").Output()
	if err != nil {
		return "", fmt.Errorf("%s --print-registry-dir: %w", NodeBuild, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startRegistry runs the lab's image registry (distribution) on the control plane's LAN
// address, plain HTTP, its storage in the lab's folder, and waits until it answers.
func (s *supervisor) startRegistry(ctx context.Context, bin string) error {
	dir := filepath.Join(s.o.Dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`# The lab's image registry: every node pulls from it; it is reachable only inside the lab.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "storage"), s.registryAddr())), 0o644); err != nil {
		return err
	}
	s.start(ctx, proc{name: "registry", argv: []string{filepath.Join(bin, "registry"), "serve", conf}})
	url := "http://" + s.registryAddr().String() + "/v2/"
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("the lab registry did not answer on %s: %w (see %s)", url, err, s.o.logPath("registry"))
	}
	return nil
}

// pushImages copies every image of the archives to the lab's registry under its path and tag
// (busybox:latest as library/busybox:latest, as a pull of docker's default host asks for it).
func (s *supervisor) pushImages(ctx context.Context, bin string, archives []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(archives))
	for i, a := range archives {
		wg.Go(func() {
			names, err := kubenode.ArchiveImageNames(a)
			if err != nil {
				errs[i] = err
				return
			}
			for _, name := range names {
				ref, err := reference.ParseNormalizedNamed(name)
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w", a, err)
					return
				}
				dst := s.registryAddr().String() + "/" + reference.Path(ref)
				if t, ok := ref.(reference.Tagged); ok {
					dst += ":" + t.Tag()
				}
				out, err := exec.CommandContext(ctx, filepath.Join(bin, "crane"), "push", "--insecure", a, dst).CombinedOutput()
				if err != nil {
					errs[i] = fmt.Errorf("crane push %s %s: %w: %s", filepath.Base(a), dst, err, out)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
