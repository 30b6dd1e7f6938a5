package kubenode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Prepare makes the node's folders, configuration files and cgroup root; containerd and the
// kubelet can start after it.
func Prepare(n Node) error {
	for _, d := range []string{n.ContainerdRoot(), n.ContainerdState(), filepath.Join(n.RegistryHosts(), "_default"),
		n.CNIConfDir(), n.CNIDataDir(), n.KubeletRoot(), n.PodLogsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		n.ContainerdConfig(): ContainerdConfig(n),
		filepath.Join(n.RegistryHosts(), "_default", "hosts.toml"): RegistryDefaultHosts(n),
		filepath.Join(n.CNIConfDir(), "10-lab.conflist"):           CNIConfig(n),
		n.KubeletConfig(): KubeletConfig(n),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := CreateCgroupRoot(n.CgroupRoot()); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	return nil
}

// Ctr is ctr for the node's containerd, in the namespace the CRI uses: Wait for it to answer,
// Import OCI archives so that Pods with imagePullPolicy IfNotPresent and the sandbox image need
// no registry.
func (n Node) Ctr() Ctr {
	return Ctr{Bin: filepath.Join(n.NodeBin, "ctr"), Socket: n.Socket(), Namespace: "k8s.io", What: "containerd of " + n.Name}
}

// Images lists the image names the node's containerd has for the CRI.
func Images(ctx context.Context, n Node) ([]string, error) {
	out, err := n.Ctr().Run(ctx, "images", "list", "-q")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// RemovePods stops and removes every Pod sandbox of the node through the CRI, as a kubelet
// deleting them would: containers stopped, network namespaces and CNI addresses released.
func RemovePods(ctx context.Context, n Node) error {
	cmd := exec.CommandContext(ctx, filepath.Join(n.NodeBin, "crictl"), "--runtime-endpoint="+n.Endpoint(),
		"--image-endpoint="+n.Endpoint(), "--timeout=20s", "rmp", "--all", "--force")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("crictl rmp on %s: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
