package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
)

// ContainerID is the router's gobgpd container; Namespace is the containerd namespace it lives in.
const (
	ContainerID = "gobgpd"
	Namespace   = "lab"
)

// Container is gobgpd run as users run a BGP peer in tests: a container of the GoBGP image
// built here (make images: frontdesk-lb/gobgp), run by a containerd of the router's own with
// Debian's runc, on the router namespace's network (host networking: the container's network is
// the namespace containerd runs in). Every file is under Dir; its cgroups are under
// CgroupParent, which down removes by name.
type Container struct {
	Lab     string // the lab's name: the cgroup parent is named after it
	Dir     string // the router's folder: containerd's config, root, state and socket
	NodeBin string // lab/tools/node-build.sh's folder: containerd, its runc shim, ctr
	Runc    string // the runc binary
	Image   string // the gobgp image's name, as imported from its archive
	// ConfDir holds gobgpd's configuration; it is mounted read-only at the same path.
	ConfDir string
}

// CgroupParent is where the container's cgroups go in every hierarchy.
func (c Container) CgroupParent() string { return "/" + c.Lab + "-router" }

func (c Container) containerdDir() string { return filepath.Join(c.Dir, "containerd") }

// ConfigPath is containerd's configuration file.
func (c Container) ConfigPath() string { return filepath.Join(c.containerdDir(), "config.toml") }

// Socket is containerd's API socket.
func (c Container) Socket() string { return filepath.Join(c.containerdDir(), "containerd.sock") }

// ContainerdConfig is the router's containerd configuration: root, state, sockets and /opt are
// the router's; the CRI and NRI are off (no kubelet talks to it).
func (c Container) ContainerdConfig() string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a TOML basic string
	d := c.containerdDir()
	return fmt.Sprintf(`# containerd of the lab's router (written by the lab's supervisor; lab/router)
version = 4
root = %s
state = %s
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri"]

[plugins."io.containerd.server.v1.grpc"]
  address = %s

[plugins."io.containerd.server.v1.ttrpc"]
  address = %s

[plugins."io.containerd.internal.v1.opt"]
  path = %s
`, q(filepath.Join(d, "root")), q(filepath.Join(d, "state")), q(c.Socket()),
		q(filepath.Join(d, "containerd.ttrpc.sock")), q(filepath.Join(d, "opt")))
}

// Prepare writes containerd's configuration.
func (c Container) Prepare() error {
	if err := os.MkdirAll(c.containerdDir(), 0o755); err != nil {
		return err
	}
	return os.WriteFile(c.ConfigPath(), []byte(c.ContainerdConfig()), 0o644)
}

// ContainerdArgs runs the router's containerd.
func (c Container) ContainerdArgs() []string {
	return []string{filepath.Join(c.NodeBin, "containerd"), "--config=" + c.ConfigPath()}
}

// RunArgs runs gobgpd in the foreground with args: ctr forwards the signals it gets to the task
// (a stop is gobgpd's SIGTERM) and removes the container when gobgpd exits.
func (c Container) RunArgs(args ...string) []string {
	argv := c.Ctr().Argv("run", "--rm", "--net-host", "--runc-binary="+c.Runc,
		// runc's state under the router's folder, not the machine-wide /run/containerd/runc.
		"--runc-root="+filepath.Join(c.containerdDir(), "runc"),
		"--cgroup="+c.CgroupParent()+"/"+ContainerID,
		"--mount=type=bind,src="+c.ConfDir+",dst="+c.ConfDir+",options=rbind:ro",
		c.Image, ContainerID, "/usr/local/bin/gobgpd")
	return append(argv, args...)
}

// Ctr is ctr for the router's containerd, in Namespace.
func (c Container) Ctr() kubenode.Ctr {
	return kubenode.Ctr{Bin: filepath.Join(c.NodeBin, "ctr"), Socket: c.Socket(), Namespace: Namespace,
		What: "router's containerd"}
}

// RemoveStale removes a container left by a run that did not end cleanly (ctr killed before it
// could remove it), so that the next run can take its name. Nothing to remove is not an error.
func (c Container) RemoveStale(ctx context.Context) error {
	if _, err := c.Ctr().Run(ctx, "containers", "info", ContainerID); err != nil {
		return nil //nolint:nilerr // no such container: nothing to remove
	}
	_, _ = c.Ctr().Run(ctx, "tasks", "kill", "--signal=SIGKILL", ContainerID)
	var err error
	for range 50 {
		if _, err = c.Ctr().Run(ctx, "tasks", "delete", "--force", ContainerID); err == nil || strings.Contains(err.Error(), "not found") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err = c.Ctr().Run(ctx, "containers", "delete", ContainerID); err != nil {
		return fmt.Errorf("removing the router's stale %s container: %w", ContainerID, err)
	}
	return nil
}

// Task is gobgpd's task as containerd reports it: its PID on the machine and its status.
func (c Container) Task(ctx context.Context) (pid int, status string, err error) {
	out, err := c.Ctr().Run(ctx, "tasks", "list")
	if err != nil {
		return 0, "", err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // TASK PID STATUS
		if len(f) == 3 && f[0] == ContainerID {
			pid, err := strconv.Atoi(f[1])
			return pid, f[2], err
		}
	}
	return 0, "", fmt.Errorf("no %s task in the router's containerd", ContainerID)
}
