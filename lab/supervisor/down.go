package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// Down removes the lab named o.Name: it stops the supervisor (which stops its components: each
// kubelet, then its Pods through the CRI, then containerd), then removes every namespace of
// that prefix, which kills whatever still runs in them (containerd and its shims, a component of
// a supervisor that died) and takes their interfaces and nftables tables along, kills what is
// left in the nodes' cgroup roots (containers in Pod namespaces) and removes those roots in
// every hierarchy, unmounts what the kubelets and containerds mounted under the lab's directory,
// removes the CNI results and container log links of its nodes and the shims' sockets, puts back
// the machine's kernel settings its kubelets changed, then the /etc/netns entries of those names
// and the lab's directory. It relies on names only, so it
// works after a crash too, and it is a no-op for a lab that is not there.
func Down(ctx context.Context, o Options) error { return down(ctx, o, false) }

// down is Down; keepBin keeps the lab's binaries (up removing a failed lab before making it again,
// with binaries built for it).
func down(ctx context.Context, o Options, keepBin bool) error {
	// Names are all down goes by: with the directory of one lab and the name of another, it would
	// remove the files of a running lab and leave its processes and namespaces behind.
	if st, err := ReadState(o.Dir); err == nil && st.Options.Name != "" && st.Options.Name != o.Name {
		return fmt.Errorf("the lab in %s is named %q, not %q: nothing removed (down --name=%s --dir=%s)",
			o.Dir, st.Options.Name, o.Name, st.Options.Name, o.Dir)
	}
	if pid := supervisorPid(o.Dir); alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(20 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	errs := []error{
		topology.Remove(ctx, o.Name),
		kubenode.RemoveCgroups(o.Name + "-node"),
		kubenode.RemoveCgroups(o.Name + "-router"),
		kubenode.Cleanup(o.Name, o.Dir),
		// After the kubelets are gone: none can set them again.
		kubenode.RestoreSysctls(o.sysctlsPath()),
	}
	if left := topology.ListNamespaces(o.Name); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left: %s", strings.Join(left, ", ")))
	}
	switch {
	case o.Dir == "" || o.Dir == "/":
	case keepBin:
		entries, _ := os.ReadDir(o.Dir)
		for _, e := range entries {
			if e.Name() != "bin" {
				errs = append(errs, os.RemoveAll(filepath.Join(o.Dir, e.Name())))
			}
		}
	default:
		errs = append(errs, os.RemoveAll(o.Dir))
	}
	return errors.Join(errs...)
}

func supervisorPid(dir string) int {
	if st, err := ReadState(dir); err == nil && st.Supervisor > 0 {
		return st.Supervisor
	}
	b, err := os.ReadFile(filepath.Join(dir, "supervisor.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
