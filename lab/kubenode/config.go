package kubenode

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ContainerdConfig is the node's containerd configuration (version 4, containerd 2.4): its root,
// state, socket and every path a containerd would otherwise share with the machine (/opt, the
// registry hosts, NRI's socket, Pod network namespaces) are the node's.
func ContainerdConfig(n Node) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a TOML basic string
	var b strings.Builder
	fmt.Fprintf(&b, `# containerd of lab node %[1]s (written by the lab's supervisor; lab/kubenode)
version = 4
root = %[2]s
state = %[3]s

# Both sockets are the node's: their defaults are one path for the whole machine.
[plugins."io.containerd.server.v1.grpc"]
  address = %[4]s

[plugins."io.containerd.server.v1.ttrpc"]
  address = %[11]s

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]s

# NRI's socket is one path for the whole machine; the lab does not use NRI.
[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.cri.v1.runtime"]
  # This machine refuses a negative oom_score_adj even to root; runc then fails with
  # "can't get final child's PID from pipe: EOF" (FIELD-NOTES.md).
  restrict_oom_score_adj = true
  # Pod network namespaces under the node's state folder, not /run/netns: they are the node's
  # files, removed with it.
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %[6]s
        # runc's state (one folder per container) under the node's state folder, not the
        # machine-wide /run/containerd/runc, where every lab left its containers' folders.
        Root = %[12]s
        # The kubelet's cgroupDriver is cgroupfs: cgroups v1 without systemd managing them.
        SystemdCgroup = false

  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[7]s]
    conf_dir = %[8]s
    max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[9]s

  [plugins."io.containerd.cri.v1.images".registry]
    # Every registry host resolves to hosts.toml in _default there: a closed port on loopback.
    config_path = %[10]s

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  # The streaming server (exec, logs, port-forward) on the node's loopback: the kubelet proxies it.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, n.Name, q(n.ContainerdRoot()), q(n.ContainerdState()), q(n.Socket()), q(n.ContainerdDir()+"/opt"),
		q(n.Runc), q(n.CNIBinDir()), q(n.CNIConfDir()), q(n.SandboxImage), q(n.RegistryHosts()), q(n.Socket()+".ttrpc"),
		q(n.RuncRoot()))
	return b.String()
}

// RegistryDefaultHosts is containerd's hosts.toml for every registry host (_default). Its one
// server is the lab's registry, which holds every image of bin/images under its path: Pods whose
// image is :latest (pulled Always, as the Services guide's are) resolve there, and nothing is ever
// fetched from outside the lab. With no registry, a closed port on the node's loopback: a pull of
// an image the node does not have fails at once (ErrImagePull, then ImagePullBackOff).
func RegistryDefaultHosts(n Node) string {
	if !n.Registry.IsValid() {
		return "# Nothing is pulled: images are imported (ctr images import).\nserver = \"http://127.0.0.1:1\"\n"
	}
	return fmt.Sprintf(`# Every registry of the lab's nodes is the lab's registry (plain HTTP, inside the lab only).
server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, n.Registry)
}

// CNIConfig is the node's CNI network: a bridge (cni0, the gateway of the Pods' range, hairpin
// on for a Pod reaching itself through a Service) with host-local addresses from the node's Pod
// range. No masquerade: Pod addresses are routed on the LAN, each node's range to its LAN
// address. portmap serves hostPort, with nftables.
func CNIConfig(n Node) string {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.NetworkName(),
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      "cni0",
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.PodCIDR.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": n.CNIDataDir(),
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"backend":      "nftables",
			},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b) + "\n"
}

// KubeletConfig is the node's KubeletConfiguration. What this machine needs (FIELD-NOTES.md):
// failCgroupV1 false (cgroups are v1), the cgroupfs driver, a cgroupRoot of the node's own, and
// podLogsDir (else /var/log/pods, shared by every node). It authenticates the API server by the
// cluster's CA and authorizes callers by Webhook (SubjectAccessReview), and serves with a
// certificate of that CA for the node's address.
func KubeletConfig(n Node) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return fmt.Sprintf(`# kubelet of lab node %[1]s (written by the lab's supervisor; lab/kubenode)
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %[2]s
cgroupsPerQOS: true
containerRuntimeEndpoint: %[3]s
podLogsDir: %[4]s
volumePluginDir: %[5]s
address: %[6]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[7]s
tlsPrivateKeyFile: %[8]s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[9]s
authorization:
  mode: Webhook
clusterDNS: [%[10]s]
clusterDomain: %[11]s
resolvConf: %[12]s
# The kubelet's own oom_score_adj: this machine refuses negative ones.
oomScoreAdj: 0
failSwapOn: false
serializeImagePulls: false
# Imported images are all the lab has: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Several nodes share one machine's disk and memory: evict only when nearly nothing is left.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
maxPods: 110
`, n.Name, q(n.CgroupRoot()), q(n.Endpoint()), q(n.PodLogsDir()), q(n.Dir+"/volume-plugins"), n.IP,
		q(n.ServingCert), q(n.ServingKey), q(n.CAFile), n.ClusterDNS, q(n.ClusterDomain), q(n.ResolvConf))
}

// KubeletArgs is the kubelet's command line; kubelet is the binary.
func KubeletArgs(n Node, kubelet string) []string {
	return []string{kubelet,
		"--config=" + n.KubeletConfig(),
		"--kubeconfig=" + n.Kubeconfig,
		"--root-dir=" + n.KubeletRoot(),
		"--hostname-override=" + n.Name,
		"--node-ip=" + n.IP.String(),
		"--v=2",
	}
}

// ContainerdArgs is containerd's command line.
func ContainerdArgs(n Node) []string {
	return []string{n.NodeBin + "/containerd", "--config=" + n.ContainerdConfig()}
}
