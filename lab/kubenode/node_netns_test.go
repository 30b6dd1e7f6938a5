//go:build netns

package kubenode

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestContainerdRunsAPod runs one node's containerd (this package's configuration) in a network
// namespace of its own, imports the images, runs a Pod through the CRI as a kubelet would (a
// sandbox on the CNI bridge, a busybox container), checks its address and that a missing image
// fails at once without leaving the node, removes it with RemovePods, then leaves a second Pod
// running (a supervisor that died) for RemoveCgroups and Cleanup, and checks that nothing is left:
// mounts, cgroups, CNI results, shim sockets, the namespace.
func TestContainerdRunsAPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, cgroups, mounts")
	}
	out, err := exec.Command("bash", "../tools/node-build.sh", "--print-dir").Output()
	if err != nil {
		t.Fatal(err)
	}
	nodeBin := strings.TrimSpace(string(out))
	archives, _ := filepath.Glob("../../bin/images/*.tar")
	if _, err := os.Stat(filepath.Join(nodeBin, "cni", "bridge")); err != nil || len(archives) == 0 {
		t.Skip("needs lab/tools/node-build.sh's binaries and make images' archives")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("needs runc (hack/install-deps.sh)")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	lab := "fdn" + hex.EncodeToString(b)
	dir := t.TempDir()
	n := Node{Lab: lab, Name: "node1", Dir: filepath.Join(dir, "nodes", "node1"),
		IP: netip.MustParseAddr("198.18.0.11"), PodCIDR: netip.MustParsePrefix("198.19.1.0/24"),
		ClusterDNS: netip.MustParseAddr("198.19.128.10"), ClusterDomain: "cluster.local",
		NodeBin: nodeBin, Runc: runc}
	for _, a := range archives {
		names, err := ArchiveImageNames(a)
		if err != nil {
			t.Fatal(err)
		}
		if Repository(names[0]) == "pause" {
			n.SandboxImage = names[0]
		}
	}
	ns := lab + "-node1"
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run("ip", "netns", "add", ns)
	var containerd *exec.Cmd
	t.Cleanup(func() {
		socks := shimAddresses(dir)
		if containerd != nil && containerd.Process != nil {
			_ = containerd.Process.Signal(syscall.SIGTERM)
			_ = containerd.Wait()
		}
		pids, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(pids)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
		if err := RemoveCgroups(lab + "-node"); err != nil {
			t.Errorf("RemoveCgroups: %v", err)
		}
		if err := Cleanup(lab, dir); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		if m, _ := MountsUnder(dir); len(m) > 0 {
			t.Errorf("mounts left: %v", m)
		}
		if cg := CgroupsOf(lab + "-"); len(cg) > 0 {
			t.Errorf("cgroups left: %v", cg)
		}
		if r := CNIResults(lab, dir); len(r) > 0 {
			t.Errorf("CNI results left: %v", r)
		}
		for _, s := range socks {
			if _, err := os.Stat(s); err == nil {
				t.Errorf("shim socket left: %s", s)
			}
		}
		if !t.Failed() && len(socks) == 0 {
			t.Error("no shim was running at cleanup: the crash path was not exercised")
		}
	})
	run("ip", "-n", ns, "link", "set", "lo", "up")
	if err := Prepare(n); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	argv := append([]string{"--net=/run/netns/" + ns, "--"}, ContainerdArgs(n)...)
	containerd = exec.Command("nsenter", argv...)
	containerd.Stdout, containerd.Stderr = logf, logf
	if err := containerd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := n.Ctr().Wait(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := n.Ctr().Import(ctx, archives...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d archives imported in %s", len(archives), time.Since(began).Round(time.Millisecond))

	crictl := func(args ...string) (string, error) {
		// In the node's namespace, as the kubelet: exec goes through containerd's streaming
		// server on the node's loopback.
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, "--",
			filepath.Join(nodeBin, "crictl"), "--runtime-endpoint=" + n.Endpoint(),
			"--image-endpoint=" + n.Endpoint(), "--timeout=30s"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return strings.TrimSpace(string(out) + stderr.String()), err
		}
		return strings.TrimSpace(string(out)), nil
	}
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod := write("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "box", "namespace": "default", "uid": "uid-box"},
		"log_directory": filepath.Join(n.PodLogsDir(), "box"),
		"linux":         map[string]any{"cgroup_parent": n.CgroupRoot() + "/box"},
	})
	ctr := write("ctr.json", map[string]any{
		"metadata": map[string]any{"name": "sleep"},
		"image":    map[string]any{"image": "busybox"},
		"command":  []string{"sleep", "3600"},
		"log_path": "sleep.log",
	})
	began = time.Now()
	id, err := crictl("run", "--no-pull", ctr, pod)
	if err != nil {
		t.Fatalf("crictl run: %v: %s\n%s", err, id, tail(filepath.Join(dir, "containerd.log")))
	}
	t.Logf("Pod with a busybox container started in %s", time.Since(began).Round(time.Millisecond))
	pods, err := crictl("pods", "-q")
	if err != nil || len(strings.Fields(pods)) != 1 {
		t.Fatalf("crictl pods: %v: %s", err, pods)
	}
	inspect, err := crictl("inspectp", pods)
	if err != nil {
		t.Fatalf("crictl inspectp %s: %v: %s", pods, err, inspect)
	}
	var st struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	_ = json.Unmarshal([]byte(inspect), &st)
	if ip, err := netip.ParseAddr(st.Status.Network.IP); err != nil || !n.PodCIDR.Contains(ip) {
		t.Errorf("Pod address %q, want one in %s", st.Status.Network.IP, n.PodCIDR)
	}
	if out, err := crictl("exec", id, "ping", "-c1", "-W2", "198.19.1.1"); err != nil {
		t.Errorf("the Pod does not reach its gateway on cni0: %v\n%s", err, out)
	}

	// A missing image: refused at once by the closed port the registry hosts point at.
	began = time.Now()
	if out, err := crictl("pull", "no-such-image"); err == nil || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("pull of a missing image: %v: %s; want a failure naming 127.0.0.1:1", err, out)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the failed pull took %s", d)
	}

	if err := RemovePods(ctx, n); err != nil {
		t.Fatal(err)
	}
	if out, _ := crictl("pods", "-q"); out != "" {
		t.Errorf("Pods left after RemovePods: %s", out)
	}

	// A Pod left running, as when the supervisor dies: the cleanup (what down does) must kill
	// and remove it by name alone.
	if out, err := crictl("run", "--no-pull", ctr, pod); err != nil {
		t.Fatalf("crictl run: %v: %s", err, out)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
